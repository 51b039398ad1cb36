"""Sweep specs, the results file, the worker's retries and the local pool's scheduling (no ROS, no graph)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from maestro_agent.evaluation import worker
from maestro_agent.evaluation.executor import LocalPool, default_workers, domain_ids
from maestro_agent.evaluation.results import ResultsWriter, completed_keys, latest, read_rows
from maestro_agent.evaluation.spec import Batch, batches, load_spec
from maestro_agent.evaluation.sweep import INTERRUPTED, Setting, TrialRecord
from maestro_tools.common.errors import InvalidArgumentError, SpecError

ROOT = Path(__file__).resolve().parents[2]
SPEC = """version: 1
name: t
robot: franka
tasks: [ball_in_bowl, hang_mug]
axes: [none, pose]
seeds: [0, 1]
trials: 2
matrix:
  vlm: [scripted, "openai:qwen2.5-vl"]
  harness: [true, false]
launch: {real_time_factor: 3.0}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_a_spec_expands_into_trials_grouped_by_graph_configuration(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, SPEC))
    trials = spec.expand()
    assert len(trials) == 2 * 2 * 2 * 2 * 2 * 2  # tasks x axes x seeds x trials x vlm x harness
    assert len({t.key for t in trials}) == len(trials)
    assert trials[0].key == "ball_in_bowl/none/0/scripted+harness/0"
    labels = {t.config.label for t in trials}
    assert labels == {
        "scripted+harness",
        "scripted+no-harness",
        "openai:qwen2.5-vl+harness",
        "openai:qwen2.5-vl+no-harness",
    }
    plan = batches(spec, trials, workers=1)
    assert len(plan) == 4 and all(len(b.trials) == 16 for b in plan)
    assert {b.launch for b in plan} == {
        ("harness:=false", "model:=qwen2.5-vl", "real_time_factor:=3.0", "vlm:=openai"),
        ("harness:=true", "model:=qwen2.5-vl", "real_time_factor:=3.0", "vlm:=openai"),
        ("harness:=false", "model:=", "real_time_factor:=3.0", "vlm:=scripted"),
        ("harness:=true", "model:=", "real_time_factor:=3.0", "vlm:=scripted"),
    }
    split = batches(spec, trials, workers=8)  # 64 trials on 8 workers: each configuration in two graphs
    assert len(split) == 8 and sorted(len(b.trials) for b in split) == [8] * 8
    assert sorted(t.key for b in split for t in b.trials) == sorted(t.key for t in trials)
    assert spec.namespace == "/maestro"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("axes: [none, pose]", "axes: [lighting]"), "valid: none, visual, pose, new_object, language"),
        (("tasks: [ball_in_bowl, hang_mug]", "tasks: [juggle]"), "unknown tasks .'juggle'. for franka"),
        (("robot: franka", "robot: r2d2"), "valid robots"),
        (("  harness: [true, false]", "  colour: [red]"), "unknown matrix dimension 'colour'"),
        (("  harness: [true, false]", "  tools: [S0, S9]"), "tool groups S0, S1, S2, S3; got 'S9'"),
        (("launch: {real_time_factor: 3.0}", "launch: {nonsense: 1}"), "nonsense"),
        (("launch: {real_time_factor: 3.0}", "launch: {perturbation: sideways}"), "must be one of"),
        (("version: 1", "version: 2"), "version must be 1"),
        (("trials: 2", "trails: 2"), "unknown keys .'trails'."),
    ],
)
def test_a_bad_spec_is_refused_naming_what_is_valid(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    with pytest.raises((SpecError, LookupError), match=message):
        load_spec(write(tmp_path, SPEC.replace(*change)))


def test_the_shipped_specs_load() -> None:
    ci = load_spec(ROOT / "config/eval/ci.yaml")
    assert [t.key for t in ci.expand()] == [
        "ball_in_bowl/none/0/scripted+harness/0",
        "ball_in_bowl/pose/0/scripted+harness/0",
    ]
    full = load_spec(ROOT / "config/eval/tabletop_programs.yaml")
    assert len(full.seeds) == 5 and len(full.axes) == 5
    programs = {p.stem for p in (ROOT / "config/programs").glob("*.yaml")}
    assert set(full.tasks) <= programs
    ablation = load_spec(ROOT / "config/eval/ablation.yaml").expand()
    labels = {t.config.label for t in ablation}
    assert len(labels) == 16 and "scripted+no-harness+faults=tool_error:0.2+tools=S0" in labels
    assert "scripted+harness" in labels  # S3, no faults: the plain configuration's label
    s1 = next(t for t in ablation if t.config.label == "scripted+harness+tools=S1")
    assert "tool_group:=S1" in s1.config.launch
    assert not any(
        a.startswith("tool_group")
        for t in ablation
        if "tools=" not in t.config.label
        for a in t.config.launch
    )


def test_the_reports_tool_groups_are_the_registrys() -> None:
    from maestro_agent.evaluation.ablation import GROUPS
    from maestro_agent.proxy.registry import TOOL_GROUPS

    assert tuple(TOOL_GROUPS) == GROUPS


def test_pool_size_and_domains() -> None:
    gib = 2**30
    assert default_workers(cores=16, available_bytes=100 * gib) == 8
    assert default_workers(cores=16, available_bytes=5 * gib) == 2
    assert default_workers(cores=2, available_bytes=1 * gib) == 1
    assert domain_ids(3, 80) == [80, 81, 82]
    with pytest.raises(InvalidArgumentError, match="domain-base"):
        domain_ids(4, 230)


def test_results_append_read_back_and_resume_skips_what_ran(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    writer = ResultsWriter(path)
    writer.append({"key": "a", "progress": 100.0, "error": ""})
    writer.append({"key": "b", "progress": 0.0, "error": "graph crashed"})
    with path.open("a") as file:
        file.write('{"key": "c", "progr')  # killed while writing
    writer = ResultsWriter(path)  # a resumed sweep
    writer.append({"key": "d", "progress": 50.0, "error": ""})
    rows = read_rows(tmp_path)
    assert [r["key"] for r in rows] == ["a", "b", "d"] and rows[0]["version"] == 1
    assert completed_keys(tmp_path) == {"a", "d"}  # b's infrastructure failure runs again
    writer.append({"key": "b", "progress": 80.0, "error": ""})
    assert completed_keys(path) == {"a", "b", "d"}
    assert [r["progress"] for r in latest(read_rows(path))] == [100.0, 80.0, 50.0]


class FakeGraph:
    started: ClassVar[list[FakeGraph]] = []

    def __init__(self, robot: str, arguments: Any) -> None:
        self.command = ["python", "-m", "maestro", robot, *arguments]
        self.up = True
        FakeGraph.started.append(self)

    def __enter__(self) -> FakeGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.up = False

    def alive(self) -> bool:
        return self.up

    def log_tail(self) -> str:
        return "log"


def job(*keys: str, retries: int = 2) -> dict[str, Any]:
    trials = []
    for key in keys:
        task, axis, seed = key.split("/")[:3]
        trials.append({"key": key, "task": task, "axis": axis, "seed": int(seed), "config": "c", "repeat": 0})
    return {"robot": "franka", "launch": ["vlm:=scripted"], "trials": trials, "retries": retries}


def test_the_worker_restarts_the_graph_after_an_infrastructure_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    errors = {"t/none/0": ["UnavailableError: run_task gone"], "t/pose/0": ["x", "y", "z"]}

    def run_trial(setting: Setting, *args: Any) -> TrialRecord:
        left = errors.get(f"{setting.task}/{setting.axis}/{setting.seed}", [])
        error = left.pop(0) if left else ""
        return TrialRecord(
            setting.task,
            setting.seed,
            setting.axis,
            "i",
            not error,
            0 if error else 100,
            2,
            0,
            1.0,
            "",
            "id",
            error,
        )

    FakeGraph.started = []
    monkeypatch.setattr(worker, "SimGraph", FakeGraph)
    monkeypatch.setattr(worker, "run_trial", run_trial)
    monkeypatch.setattr(worker, "wait_ready", lambda *a: 1.5)
    monkeypatch.setattr(worker, "graph_rss_mb", lambda: 1800.0)
    rows: list[dict[str, Any]] = []
    assert worker.run_job(job("t/none/0", "t/pose/0", "t/visual/0"), rows.append)
    assert [(r["key"], r["attempts"], r["progress"], bool(r["error"])) for r in rows] == [
        ("t/none/0", 2, 100, False),
        ("t/pose/0", 3, 0, True),  # three attempts (retries 2), still failing: an infrastructure failure
        ("t/visual/0", 1, 100, False),
    ]
    assert rows[0]["infra_errors"] == ["UnavailableError: run_task gone"] and rows[1]["infra_errors"] == [
        "x",
        "y",
    ]
    assert rows[0]["graph_start_s"] == 1.5 and rows[0]["graph_rss_mb"] == 1800.0
    assert len(FakeGraph.started) == 5 and not any(g.up for g in FakeGraph.started)  # 4 restarts, all stopped


def test_an_interrupted_trial_is_not_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    record = TrialRecord("t", 0, "none", "", False, 0, 0, 0, 1.0, "", "", INTERRUPTED)
    monkeypatch.setattr(worker, "SimGraph", FakeGraph)
    monkeypatch.setattr(worker, "run_trial", lambda *a: record)
    monkeypatch.setattr(worker, "wait_ready", lambda *a: 1.0)
    rows: list[dict[str, Any]] = []
    assert not worker.run_job(job("t/none/0"), rows.append) and rows == []


def test_the_pool_reruns_what_a_dead_worker_left_then_records_it_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_spec(write(tmp_path, SPEC.replace("trials: 2", "trials: 1")))
    plan = batches(spec, spec.expand()[:3], workers=1)
    calls: list[int] = []

    def dying(self: LocalPool, k: int, batch: Batch, job: dict[str, Any], on_row: Any) -> list[str]:
        calls.append(len(batch.trials))
        first = batch.trials[0]
        on_row({**first.to_json(), "progress": 100.0, "error": ""})  # one trial, then the worker dies
        return [t.key for t in batch.trials[1:]]

    monkeypatch.setattr(LocalPool, "_run_batch", dying)
    rows: list[dict[str, Any]] = []
    LocalPool(1, [80], tmp_path / "logs").run(plan, {"retries": 1}, rows.append)
    assert calls == [3, 2]  # a fresh worker for the two left; then the retry limit
    assert [bool(r["error"]) for r in rows] == [False, False, True]
    assert "exited with trials left" in rows[2]["error"] and json.dumps(rows)


def test_the_libero_specs_load_with_their_tasks_and_a_substep_budget() -> None:
    for name in ("libero_object", "libero_spatial", "libero_pro_position", "libero_pro_task"):
        full = load_spec(ROOT / f"config/eval/{name}.yaml")
        first = load_spec(ROOT / f"config/eval/libero_first_state/{name}.yaml")
        assert full.tasks == first.tasks and full.axes == first.axes and full.robot == first.robot == "libero"
        assert full.seeds == tuple(range(10)) and first.seeds == (0,)
        assert full.max_substeps == first.max_substeps == 8 and first.name == f"{name}_first_state"
        assert len(first.expand()) == len(full.tasks) in (10, 20)


def test_a_worker_exits_with_its_status_without_the_interpreters_finalization() -> None:
    # A worker whose rows were all out hung 11 minutes in finalization (its trials' DDS threads); it now
    # leaves as soon as it is done: an atexit hook never runs, and the status comes through.

    script = (
        "import atexit, runpy; atexit.register(lambda: print('finalized', flush=True)); "
        "runpy.run_module('maestro_agent.evaluation.worker', run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps({"robot": "franka", "launch": [], "trials": []}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "finalized" not in done.stdout, done.stderr
