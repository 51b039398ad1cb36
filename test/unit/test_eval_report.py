"""`maestro report`: its numbers equal ones computed independently from the raw result rows."""

from __future__ import annotations

import csv
import json
import random
import statistics
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from maestro_agent.evaluation import ablation, figure
from maestro_agent.evaluation.report import write_report
from maestro_agent.evaluation.results import ResultsWriter
from maestro_agent.traces.store import TraceStore

TASKS = ("ball_in_bowl", "hang_mug")
AXES = ("none", "pose", "language")
CONFIGS = ("scripted+harness", "scripted+no-harness")


def raw_rows(seed: int = 3) -> list[dict[str, Any]]:
    """Two configs x two tasks x three axes x two seeds x two repeats, one infrastructure failure, and one
    trial written twice (a resumed sweep reran its failure: the last row counts)."""
    rng = random.Random(seed)
    rows = []
    for task in TASKS:
        for config in CONFIGS:
            for axis in AXES:
                for s in (0, 1):
                    for repeat in (0, 1):
                        progress = float(rng.choice([0, 30, 50, 70, 100]))
                        key = f"{task}/{axis}/{s}/{config}/{repeat}"
                        rows.append(
                            {
                                "key": key, "task": task, "axis": axis, "seed": s, "repeat": repeat,
                                "config": config, "success": progress == 100, "progress": progress,
                                "seconds": round(rng.uniform(20, 90), 1), "substeps": rng.randint(1, 6),
                                "replans": rng.randint(0, 2), "trial_id": f"id{len(rows)}", "error": "",
                                "attempts": 1, "sweep": "unit",
                            }
                        )  # fmt: skip
    rows[5] = {**rows[5], "error": "UnavailableError: graph crashed", "progress": 0.0, "success": False}
    rows.append({**rows[0], "error": "graph start: timeout", "progress": 0.0, "trial_id": ""})  # then reran:
    rows.append({**rows[0], "progress": 70.0, "success": False, "trial_id": "id-rerun"})
    return rows


def independent(rows: list[dict[str, Any]], tokens: dict[str, int]) -> dict[tuple[str, str, str], dict]:
    last = {r["key"]: r for r in rows}
    want = {}
    for task in TASKS:
        for axis in AXES:
            for config in CONFIGS:
                mine = [
                    r for r in last.values() if (r["task"], r["axis"], r["config"]) == (task, axis, config)
                ]
                ok = [r for r in mine if not r["error"]]
                progress = [r["progress"] for r in ok]
                want[(task, axis, config)] = {
                    "trials": len(ok),
                    "mean_progress": statistics.mean(progress),
                    "std_progress": statistics.stdev(progress) if len(progress) > 1 else 0.0,
                    "success_rate": sum(r["success"] for r in ok) / len(ok),
                    "mean_seconds": statistics.mean(r["seconds"] for r in ok),
                    "mean_substeps": statistics.mean(r["substeps"] for r in ok),
                    "mean_replans": statistics.mean(r["replans"] for r in ok),
                    "mean_tokens": statistics.mean(tokens.get(r["trial_id"], 0) for r in ok),
                    "infra_failures": len(mine) - len(ok),
                }
    return want


@pytest.fixture
def sweep(tmp_path: Path) -> tuple[Path, list[dict[str, Any]], dict[str, int]]:
    rows = raw_rows()
    writer = ResultsWriter(tmp_path / "results.jsonl")
    for row in rows:
        writer.append(row)
    store = TraceStore(tmp_path / "traces", batch_s=0.01)
    spent: dict[str, int] = {}
    for n, trial_id in enumerate(["id0", "id1", "id-rerun", "id9"]):
        for k in range(n + 1):  # several VLM calls per trial
            store.event(trial_id, "tokens", data={"input_tokens": 1000 + k, "output_tokens": 10 * n})
            spent[trial_id] = spent.get(trial_id, 0) + 1000 + k + 10 * n
    store.close()
    return tmp_path, rows, spent


def test_the_report_equals_an_independent_computation(
    sweep: tuple[Path, list[dict[str, Any]], dict[str, int]],
) -> None:
    root, rows, spent = sweep
    paths = write_report(root)
    assert [p.name for p in paths] == ["index.html", "figure.png", "summary.csv", "trials.csv", "report.json"]
    want = independent(rows, spent)
    with (root / "report" / "summary.csv").open() as file:
        table = list(csv.DictReader(file))
    assert len(table) == len(want)
    for line in table:
        expected = want[(line["task"], line["axis"], line["config"])]
        for name, value in expected.items():
            assert float(line[name]) == pytest.approx(value, abs=0.01), (line, name)
    report = json.loads((root / "report" / "report.json").read_text())
    assert report["version"] == 1 and len(report["trials"]) == len({r["key"] for r in rows})
    assert [f["key"] for f in report["infra_failures"]] == [rows[5]["key"]]
    rerun = next(t for t in report["trials"] if t["key"] == rows[0]["key"])
    assert (
        rerun["progress"] == 70.0 and rerun["input_tokens"] == 3 * 1000 + 3 and rerun["output_tokens"] == 60
    )
    for overall in report["overall"]:
        ok = [
            r
            for r in {r["key"]: r for r in rows}.values()
            if r["config"] == overall["config"] and not r["error"]
        ]
        assert overall["mean_progress"] == pytest.approx(statistics.mean(r["progress"] for r in ok), abs=0.01)
        assert overall["std_progress"] == pytest.approx(statistics.stdev(r["progress"] for r in ok), abs=0.01)
    with (root / "report" / "trials.csv").open() as file:
        assert len(list(csv.DictReader(file))) == len(report["trials"])


def test_the_figure_has_a_bar_per_trial_and_a_marker_per_configuration() -> None:
    rows = [r for r in {r["key"]: r for r in raw_rows()}.values() if not r["error"]]
    fig = figure.layout(rows)
    assert fig.tasks == list(TASKS) and fig.configs == list(CONFIGS)
    assert fig.columns == [(a, s) for a in AXES for s in (0, 1)]  # the original first, then perturbed
    one = [r["progress"] for r in rows if r["task"] == "hang_mug" and r["axis"] == "pose" and r["seed"] == 1]
    one_config = [
        r["progress"]
        for r in rows
        if (r["task"], r["axis"], r["seed"], r["config"]) == ("hang_mug", "pose", 1, CONFIGS[1])
    ]
    assert len(one) == 4 and fig.marks[(1, 3, 1)] == pytest.approx(statistics.mean(one_config))
    for backend in ("matplotlib", "opencv"):
        image = cv2.imdecode(np.frombuffer(figure.render_png(rows, "t", backend), np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[0] > 100 and image.shape[1] > 400
        assert image.min() < 30 and image.max() > 225  # the bars run from white to black


def test_the_figure_axis_order_is_the_sweeps() -> None:
    from maestro_agent.evaluation.sweep import AXES as SWEEP_AXES

    assert figure.AXES == SWEEP_AXES


def test_the_ablation_groups_trials_by_tool_group_and_series(tmp_path: Path) -> None:
    rng = random.Random(5)
    rows = []
    for tools in ("S0", "S1", "S2", "S3"):
        for harness in (True, False):
            for faults in ("none", "tool_error:0.2"):
                for seed in (0, 1, 2):
                    progress = float(rng.choice([0, 30, 50, 100]))
                    dims = {"vlm": {"backend": "scripted", "model": ""}, "harness": harness, "faults": faults}
                    label = "+".join(["scripted", "harness" if harness else "no-harness", faults, tools])
                    rows.append(
                        {
                            "key": f"ball_in_bowl/none/{seed}/{label}/0", "task": "ball_in_bowl",
                            "axis": "none", "seed": seed, "repeat": 0, "config": label,
                            "dimensions": {**dims, "tools": tools},
                            "success": progress == 100, "progress": progress, "seconds": 30.0, "substeps": 2,
                            "replans": 0, "trial_id": "", "error": "", "attempts": 1,
                        }
                    )  # fmt: skip
    rows[0] = {**rows[0], "error": "graph crashed", "progress": 0.0}  # left out of the curve
    writer = ResultsWriter(tmp_path / "results.jsonl")
    for row in rows:
        writer.append(row)
    paths = write_report(tmp_path)
    assert "ablation.png" in [p.name for p in paths]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert len(report["ablation"]) == 4 * 4  # series (harness x faults) x tool groups
    assert [p["tools"] for p in report["ablation"][:4]] == ["S0", "S1", "S2", "S3"]
    for point in report["ablation"]:
        harness = point["series"].startswith("harness")
        faults = "tool_error:0.2" if "tool_error" in point["series"] else "none"
        mine = [
            r["progress"]
            for r in rows
            if not r["error"]
            and r["dimensions"]["tools"] == point["tools"]
            and r["dimensions"]["harness"] == harness
            and r["dimensions"]["faults"] == faults
        ]
        assert point["trials"] == len(mine)
        assert point["mean_progress"] == pytest.approx(statistics.mean(mine), abs=0.01)
        assert point["std_progress"] == pytest.approx(statistics.stdev(mine), abs=0.01)
    assert 'id="ablation-figure"' in (tmp_path / "report" / "index.html").read_text()
    for backend in ("matplotlib", "opencv"):
        png = ablation.render_png(report["ablation"], "t", backend)
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[1] > 400
    no_groups = [{**r, "dimensions": {"harness": True}} for r in rows if not r["error"]]
    assert ablation.points(no_groups) == []  # a sweep without a tools dimension has no curve
