"""The ray executor with a fake worker (this file run as a script: rows and a trace store, no graph), against
the local pool; the trace store shard merge; the error without Ray. The Ray tests skip without Ray."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from maestro_agent.evaluation.executor import LocalPool
from maestro_agent.evaluation.spec import SweepSpec, batches
from maestro_agent.traces.merge import merge_stores
from maestro_agent.traces.store import TraceStore, open_database
from maestro_tools.common.errors import UnavailableError

TIMING = {"seconds", "finished", "trial_id", "summary", "graph_start_s", "graph_rss_mb"}


def fake_worker() -> None:
    """What a worker prints and records, without a graph: one trial per row into MAESTRO_TRACE_DIR."""
    from maestro_agent.evaluation.worker import RECORD

    job = json.loads(sys.stdin.read())
    store = TraceStore(os.environ["MAESTRO_TRACE_DIR"])
    for n, trial in enumerate(job["trials"]):
        trial_id = f"{os.getpid()}-{n}"
        store.start_trial(trial_id, trial["task"], trial["task"])
        store.event(trial_id, "plan", data={"key": trial["key"]})
        store.image(trial_id, 0, "scene", __import__("numpy").zeros((4, 4, 3), "uint8"))
        store.end_trial(trial_id, True, 100.0, "done", 1, 0)
        store.flush()
        env = {k: os.environ.get(k) for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
        row = {**trial, "progress": 100.0, "seconds": 0.1, "error": "", "trial_id": trial_id, "env": env}
        row["summary"] = f"done [trace: trial {trial_id} in {store.path}]"
        print(RECORD + json.dumps(row), flush=True)
    store.close()


def plan(workers: int = 2) -> list[Any]:
    spec = SweepSpec(name="fake", robot="franka", tasks=("a", "b"), axes=("none", "pose"), seeds=(0, 1))
    return batches(spec, spec.expand(), workers)


def run(executor: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    executor.run(plan(), {"retries": 1}, rows.append)
    return sorted(rows, key=lambda r: r["key"])


def same_content(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in TIMING | {"worker", "domain_id", "env"}}


def test_shards_merge_into_one_store_again_and_again(tmp_path: Path) -> None:
    for shard, ids in (("s1", ["x", "y"]), ("s2", ["z"])):
        store = TraceStore(tmp_path / shard)
        for trial_id in ids:
            store.start_trial(trial_id, "put the ball in the bowl")
            store.event(trial_id, "plan", data={"plan": [trial_id]})
            store.tool_call(trial_id, 1, {"module": "robot", "function": "grasp", "success": False})
            store.image(trial_id, 1, "scene", __import__("numpy").zeros((4, 4, 3), "uint8"))
            store.end_trial(trial_id, True, 100.0, "ok", 1, 0)
        store.close()
    target = tmp_path / "merged"
    assert merge_stores(target, [tmp_path / "s1", tmp_path / "s2", tmp_path / "none"]) == 3
    assert merge_stores(target, [tmp_path / "s2"]) == 1  # again: replaced, not doubled
    with open_database(target / "traces.db") as db:
        assert db.execute("SELECT count(*), sum(success) FROM trials").fetchone() == (3, 3)
        assert db.execute("SELECT count(*) FROM events").fetchone() == (3,)
        assert db.execute("SELECT count(*) FROM tool_calls WHERE function = 'grasp'").fetchone() == (3,)
        paths = [row[0] for row in db.execute("SELECT path FROM images")]
    assert len(paths) == 3 and all((target / p).is_file() for p in paths)


def test_the_ray_executor_needs_ray_and_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from maestro_agent.evaluation.ray_executor import require_ray
    from maestro_agent.evaluation.run import run_sweep

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    with pytest.raises(UnavailableError, match="make setup-ray"):
        require_ray()
    with pytest.raises(UnavailableError, match="make setup-ray"):
        run_sweep("config/eval/ci.yaml", "/nonexistent/out", executor="ray")


@pytest.mark.timeout(240)
def test_ray_runs_the_batches_like_the_local_pool_and_merges_the_shards(tmp_path: Path) -> None:
    if importlib.util.find_spec("ray") is None:  # not imported here: start_ray sets how it starts first
        pytest.skip("Ray is optional and not installed: `make setup-ray` installs it")
    from maestro_agent.evaluation.ray_executor import RayExecutor, start_ray

    local = run(
        LocalPool(
            2,
            [90, 91],
            tmp_path / "local_logs",
            {"MAESTRO_TRACE_DIR": str(tmp_path / "local")},
            command=(sys.executable, __file__),
        )
    )
    ray = start_ray(2)  # RayExecutor uses it (and shuts it down)
    me = psutil.Process()
    ours = {me.pid, *(p.pid for p in me.children(recursive=True))}
    listening = [c.laddr.ip for c in psutil.net_connections("inet") if c.status == "LISTEN" and c.pid in ours]
    assert listening and set(listening) <= {"127.0.0.1", "::1", "::ffff:127.0.0.1"}, listening
    executor = RayExecutor(
        2,
        [90, 91],
        tmp_path / "logs",
        trace_dir=tmp_path / "out" / "traces",
        command=(sys.executable, __file__),
    )
    remote = run(executor)
    assert not ray.is_initialized()
    assert [same_content(r) for r in remote] == [same_content(r) for r in local] and len(remote) == 8
    for row in remote:
        assert row["env"] == {
            "ROS_DOMAIN_ID": str(row["domain_id"]),
            "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        }
        assert row["summary"].endswith(f"in {tmp_path / 'out' / 'traces' / 'traces.db'}]")
    assert {r["domain_id"] for r in remote} == {90, 91}
    with open_database(tmp_path / "out" / "traces" / "traces.db") as db:
        ids = {row[0] for row in db.execute("SELECT id FROM trials")}
        assert db.execute("SELECT count(*) FROM images").fetchone() == (8,)
    assert ids == {r["trial_id"] for r in remote}
    assert not (tmp_path / "out" / "trace_shards").exists()


if __name__ == "__main__":
    fake_worker()
