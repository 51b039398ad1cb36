"""``maestro eval SPEC.yaml``: expand a sweep spec, run its trials with an executor, append the results.

The out folder holds ``spec.json`` (the expanded spec), ``results.jsonl`` (``results.py``), ``logs/``
(one log per worker) and ``traces/`` (the trace store every trial is recorded in; ``maestro report``
reads token counts there; the ray executor's workers record into shards, merged into it at the end).
``--resume`` skips the trials whose last row ran; without it an out folder that already has results is
refused.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from maestro_agent.evaluation.executor import Executor, LocalPool, default_workers, domain_ids
from maestro_agent.evaluation.results import RESULTS_NAME, ResultsWriter, completed_keys
from maestro_agent.evaluation.spec import SweepSpec, batches, load_spec
from maestro_tools.common.errors import InvalidArgumentError

EXECUTORS = (None, "local", "ray")


def run_sweep(
    spec_path: Path | str,
    out: Path | str,
    workers: int = 0,
    resume: bool = False,
    domain_base: int | None = None,
    executor: Executor | str | None = None,
    stream: TextIO = sys.stdout,
    ray_address: str = "",
    seeds: Sequence[int] | None = None,
) -> int:
    """Run the sweep; 0 when every trial ran (whatever its score), 1 when infrastructure failures are
    left (run again with --resume), 130 when interrupted. ``executor``: an Executor, or "local" (the
    default: LocalPool) or "ray" (RayExecutor; ``ray_address``: a cluster, "" = a private local Ray).
    ``seeds``: run only the trials of these of the spec's seeds (LIBERO: initial states), a part of a long
    sweep at a time; OUT keeps the whole spec, so later parts resume into it."""
    if executor not in EXECUTORS and not hasattr(executor, "run"):
        raise InvalidArgumentError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
    if executor == "ray":
        from maestro_agent.evaluation.ray_executor import require_ray

        require_ray()  # before anything runs: says how to install it
    spec = load_spec(spec_path)
    if seeds is not None:
        unknown = sorted(set(seeds) - set(spec.seeds))
        if unknown or not seeds:
            raise InvalidArgumentError(
                f"--seeds {unknown or list(seeds)} not among the spec's seeds; valid: "
                f"{', '.join(map(str, spec.seeds))}"
            )
    out = Path(out)
    results = out / RESULTS_NAME
    if results.is_file() and results.stat().st_size and not resume:
        raise InvalidArgumentError(f"{results} already has results; pass --resume or choose another --out")
    _check_same_sweep(spec, out / "spec.json", resume)
    trials = spec.expand()
    done = completed_keys(results)
    todo = [t for t in trials if t.key not in done and (seeds is None or t.seed in seeds)]
    workers = workers or default_workers()
    plan = batches(spec, todo, workers)
    workers = max(1, min(workers, len(plan) or 1))
    print(
        f"sweep {spec.name}: {len(trials)} trials, {len(done & {t.key for t in trials})} already recorded, "
        f"{len(todo)} to run{'' if seeds is None else f' (seeds {sorted(seeds)})'} in {len(plan)} graph(s) "
        f"on {workers} worker(s)",
        file=stream,
        flush=True,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "spec.json").write_text(json.dumps(_header(spec, workers), indent=1) + "\n")
    if not todo:
        return 0
    if executor == "ray":
        from maestro_agent.evaluation.ray_executor import RayExecutor

        executor = RayExecutor(
            workers,
            domain_ids(workers, domain_base),
            out / "logs",
            trace_dir=out / "traces",
            address=ray_address,
        )
    elif executor in (None, "local"):
        traces = str((out / "traces").resolve())
        executor = LocalPool(
            workers, domain_ids(workers, domain_base), out / "logs", {"MAESTRO_TRACE_DIR": traces}
        )
    assert not isinstance(executor, str)
    writer = ResultsWriter(results)
    counts = {"ran": 0, "infra": 0}
    lock = threading.Lock()
    start = time.monotonic()

    def on_row(row: dict[str, Any]) -> None:
        writer.append({"sweep": spec.name, "robot": spec.robot, **row})
        with lock:
            counts["ran"] += 1
            counts["infra"] += bool(row.get("error"))
            note = f"INFRA: {row['error'][:100]}" if row.get("error") else row.get("summary", "")[:80]
            print(
                f"[{counts['ran']}/{len(todo)}] {row['key']}: {row['progress']:.0f} "
                f"in {row['seconds']:.0f} s "
                f"({row.get('substeps', 0)} substeps, attempt {row.get('attempts', 1)}) {note}",
                file=stream,
                flush=True,
            )

    job = {
        "retries": spec.retries,
        "max_substeps": spec.max_substeps,
        "server_timeout_s": spec.server_timeout_s,
    }
    try:
        executor.run(plan, job, on_row)
    except KeyboardInterrupt:
        print(f"interrupted after {counts['ran']} trial(s); --resume continues", file=stream)
        return 130
    minutes = (time.monotonic() - start) / 60
    print(
        f"ran {counts['ran']} trial(s) in {minutes:.1f} min; {counts['infra']} infrastructure failure(s); "
        f"results in {results}",
        file=stream,
    )
    return 1 if counts["infra"] or counts["ran"] < len(todo) else 0


def _header(spec: SweepSpec, workers: int) -> dict[str, Any]:
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "workers": workers}
    return {"spec": spec.to_json(), "machine": machine, "written": round(time.time(), 3)}


def _check_same_sweep(spec: SweepSpec, header: Path, resume: bool) -> None:
    """A resumed sweep must be the same sweep (its name and robot) as the one that wrote the folder."""
    if not (resume and header.is_file()):
        return
    before = json.loads(header.read_text()).get("spec", {})
    if (before.get("name"), before.get("robot")) != (spec.name, spec.robot):
        raise InvalidArgumentError(
            f"{header.parent} holds sweep {before.get('name')!r} ({before.get('robot')}), not {spec.name!r}; "
            "choose another --out"
        )
