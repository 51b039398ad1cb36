"""Orchestration analytics: counts, transitions and bigrams equal a plain-Python count of the raw rows."""

from __future__ import annotations

import csv
import importlib.util
import io
import itertools
import random
import sqlite3
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from maestro_agent.cli import main
from maestro_agent.traces import analytics
from maestro_agent.traces.store import TraceStore, open_database

# (module, function, category, depth) per trial, in call order; depth-1 calls sit inside the call after them.
SEQUENCES: dict[str, tuple[str, list[tuple[str, str, str, int]]]] = {
    "pick1": (
        "pick_place",
        [
            ("perception", "detect", "perception", 0),
            ("geometry", "pose_between", "geometry", 0),
            ("perception", "detect", "perception", 1),
            ("grasping", "plan_grasp", "grasping", 0),
            ("robot", "move_gripper_to", "control", 1),
            ("robot", "close_gripper", "control", 1),
            ("grasping", "pick", "grasping", 0),
            ("robot", "move_gripper_to", "control", 0),
            ("robot", "open_gripper", "control", 0),
        ],
    ),
    "pick2": (
        "pick_place",
        [
            ("perception", "detect", "perception", 0),
            ("vla", "run_policy", "vla", 0),
            ("perception", "detect", "perception", 0),
            ("robot", "move_gripper_to", "control", 0),
            ("robot", "move_gripper_to", "control", 0),
        ],
    ),
    "wipe1": (
        "wipe_table",
        [
            ("perception", "segment", "perception", 0),
            ("robot", "follow_path", "vla", 1),  # nested VLA: the trial counts as VLA, the call does not
            ("robot", "wipe", "control", 0),
            ("image_editor", "draw_boxes", "perception", 0),
            ("robot", "wipe", "control", 0),
        ],
    ),
}
# Recorded straight into the table with ids out of time order (as when two writers interleave).
SHUFFLED = [
    ("perception", "detect", "perception", 0),
    ("geometry", "plane_fit", "geometry", 0),
    ("robot", "move_gripper_to", "control", 0),
    ("robot", "move_gripper_to", "control", 1),
    ("robot", "wipe", "control", 0),
    ("perception", "detect", "perception", 0),
]


def build_store(root: Path) -> Path:
    store = TraceStore(root, batch_s=0.01)
    for trial_id, (task_type, calls) in SEQUENCES.items():
        store.start_trial(trial_id, f"do {task_type}", task_type, vlm="scripted")
        for i, (module, function, category, depth) in enumerate(calls):
            success = not (trial_id == "pick1" and function == "pick")
            store.tool_call(
                trial_id,
                1 + i // 3,
                {
                    "module": module,
                    "function": function,
                    "category": category,
                    "depth": depth,
                    "success": success,
                    "line": i + 1,
                },
            )
        store.end_trial(trial_id, trial_id != "pick1", 50.0, "done", 3, 1)
    store.start_trial("empty", "nothing happens", "wipe_table")
    store.close()
    db = open_database(root / "traces.db")
    with db:
        db.execute(
            "INSERT INTO trials (id, instruction, task_type, started) VALUES ('wipe2', 'w', 'wipe_table', 1)"
        )
        order = list(range(len(SHUFFLED)))
        random.Random(3).shuffle(order)
        for i in order:
            module, function, category, depth = SHUFFLED[i]
            db.execute(
                "INSERT INTO tool_calls (trial_id, t, module, function, category, success, depth) "
                "VALUES ('wipe2', ?, ?, ?, ?, 1, ?)",
                (100.0 + i, module, function, category, depth),
            )
    db.close()
    return root


def independent(root: Path, task_type: str = "", vla: bool | None = None) -> dict[str, Counter]:
    """The expected tables, counted in plain Python from the raw rows."""
    db = sqlite3.connect(root / "traces.db")
    trials = dict(db.execute("SELECT id, task_type FROM trials").fetchall())
    rows = db.execute("SELECT trial_id, t, id, module, function, category, depth FROM tool_calls").fetchall()
    db.close()
    used_vla = {r[0] for r in rows if r[5] == "vla" or r[3] == "vla"}
    keep = {
        t
        for t, kind in trials.items()
        if (not task_type or kind == task_type) and (vla is None or (t in used_vla) == vla)
    }
    out: dict[str, Counter] = {k: Counter() for k in ("modules", "functions", "categories", "mt", "ft")}
    for trial in keep:
        calls = sorted((r for r in rows if r[0] == trial and r[6] == 0), key=lambda r: (r[1], r[2]))
        out["modules"].update(r[3] for r in calls)
        out["functions"].update(f"{r[3]}.{r[4]}" for r in calls)
        out["categories"].update(r[5] for r in calls)
        out["mt"].update((a[3], b[3]) for a, b in itertools.pairwise(calls))
        out["ft"].update((f"{a[3]}.{a[4]}", f"{b[3]}.{b[4]}") for a, b in itertools.pairwise(calls))
    out["trials"] = Counter(keep)
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("analytics"))


@pytest.mark.parametrize(
    ("task_type", "vla"),
    [
        ("", None),
        ("pick_place", None),
        ("wipe_table", None),
        ("", True),
        ("", False),
        ("wipe_table", False),
        ("pick_place", True),
        ("no_such_task", None),
    ],
)
def test_tables_equal_an_independent_count(store: Path, task_type: str, vla: bool | None) -> None:
    a = analytics.load(store, task_type, vla)
    want = independent(store, task_type, vla)
    assert a.modules == dict(want["modules"])
    assert a.functions == dict(want["functions"])
    assert a.categories == dict(want["categories"])
    assert a.module_transitions == dict(want["mt"])
    assert a.function_transitions == dict(want["ft"])
    assert {t.id for t in a.trials} == set(want["trials"])
    top = sorted(want["ft"].items(), key=lambda item: (-item[1], item[0]))[:15]
    assert a.bigrams() == [(x, y, n) for (x, y), n in top]
    labels, grid = a.matrix()
    assert int(grid.sum()) == sum(want["mt"].values())
    for (x, y), n in want["mt"].items():
        assert grid[labels.index(x), labels.index(y)] == n


def test_known_values_nested_calls_and_vla_trials(store: Path) -> None:
    a = analytics.load(store)
    assert a.calls == 6 + 5 + 4 + 5  # depth-0 calls only
    assert a.modules["robot"] == 2 + 2 + 2 + 2 and "vla" in a.modules
    assert a.categories.get("vla") == 1  # the nested VLA call does not count
    assert a.module_transitions[("perception", "geometry")] == 2
    assert a.module_transitions[("robot", "robot")] == 3
    assert a.function_transitions[("robot.move_gripper_to", "robot.move_gripper_to")] == 1
    # ordered by time, not by id: wipe2 reads detect, plane_fit, move, wipe, detect
    assert a.function_transitions[("geometry.plane_fit", "robot.move_gripper_to")] == 1
    by_id = {t.id: t for t in a.trials}
    assert {t.id for t in a.trials if t.vla} == {"pick2", "wipe1"}
    assert (by_id["pick1"].calls, by_id["pick1"].failed_calls, by_id["pick1"].success) == (6, 1, False)
    assert by_id["empty"].calls == 0 and by_id["empty"].success is None and by_id["empty"].duration is None
    assert a.failures == {"grasping": 1}
    assert a.task_types == ["pick_place", "wipe_table"]


def test_csv_and_png_exports(store: Path, tmp_path: Path) -> None:
    a = analytics.load(store, vla=False)
    rows = list(csv.DictReader(io.StringIO(analytics.write_csv(a, tmp_path / "a.csv").read_text())))
    assert {r["table"] for r in rows} >= {
        "modules",
        "functions",
        "categories",
        "module_transitions",
        "trials",
    }
    modules = {r["source"]: int(r["count"]) for r in rows if r["table"] == "modules"}
    assert modules == a.modules
    moves = {(r["source"], r["target"]): int(r["count"]) for r in rows if r["table"] == "module_transitions"}
    assert moves == a.module_transitions
    trials = {r["source"]: r for r in rows if r["table"] == "trials"}
    assert set(trials) == {"pick1", "empty", "wipe2"} and trials["pick1"]["failed_calls"] == "1"
    backends = ["matplotlib"] if importlib.util.find_spec("matplotlib") else []  # optional: OpenCV otherwise
    for backend in [*backends, "opencv"]:
        path = analytics.write_png(a, tmp_path / f"{backend}.png", backend)
        image = cv2.imread(str(path))
        assert image is not None and image.shape[0] > 400 and image.shape[1] > 600, backend
    empty = analytics.load(store, "no_such_task")
    assert cv2.imdecode(np.frombuffer(analytics.render_png(empty, "opencv"), np.uint8), 1) is not None


def test_cli_prints_tables_and_writes_files(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out_csv, out_png = tmp_path / "o.csv", tmp_path / "o.png"
    assert (
        main(
            [
                "analytics",
                "--store",
                str(store),
                "--task-type",
                "pick_place",
                "--vla",
                "yes",
                "--csv",
                str(out_csv),
                "--png",
                str(out_png),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "1 trial(s), 5 depth-0 tool call(s)" in text and "perception -> vla" in text
    assert out_csv.is_file() and cv2.imread(str(out_png)) is not None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "traces.db").write_bytes(b"not a database at all" * 50)
    assert main(["analytics", "--store", str(tmp_path / "bad")]) == 2
    assert "not a Maestro trace store" in capsys.readouterr().err


def test_ten_thousand_calls_compute_fast(tmp_path: Path) -> None:
    db = open_database(tmp_path / "traces.db", create=True)
    rng = random.Random(7)
    modules = [
        ("robot", "control"),
        ("perception", "perception"),
        ("grasping", "grasping"),
        ("geometry", "geometry"),
        ("vla", "vla"),
        ("image_editor", "perception"),
    ]
    with db:
        db.executemany(
            "INSERT INTO trials (id, instruction, task_type, started) VALUES (?, 'x', ?, ?)",
            [(f"t{i}", ("a", "b")[i % 2], i) for i in range(100)],
        )
        calls = []
        for n in range(10_000):
            module, category = modules[rng.randrange(5 if n % 200 else 6)]
            calls.append((f"t{n % 100}", n * 0.01, module, f"f{rng.randrange(4)}", category, n % 7 != 0))
        db.executemany(
            "INSERT INTO tool_calls (trial_id, t, module, function, category, success, depth) "
            "VALUES (?, ?, ?, ?, ?, ?, 0)",
            calls,
        )
    db.close()
    started = time.perf_counter()
    a = analytics.load(tmp_path)
    elapsed = time.perf_counter() - started
    print(f"\nanalytics over 10,000 calls: {elapsed * 1000:.1f} ms")
    assert a.calls == 10_000 and sum(a.module_transitions.values()) == 10_000 - 100
    want = independent(tmp_path, "b", True)
    b = analytics.load(tmp_path, "b", True)
    assert b.module_transitions == dict(want["mt"]) and b.functions == dict(want["functions"])
    assert elapsed < 5.0


def test_cancelled_and_interrupted_trials_are_not_counted_as_failed(tmp_path: Path) -> None:
    store = TraceStore(tmp_path, batch_s=0.01)
    ends = {"ok": "success", "bad": "failed", "stop": "cancelled", "long": "budget_exhausted"}
    for trial_id, outcome in ends.items():
        store.start_trial(trial_id, "do it", "pick_place")
        store.end_trial(trial_id, outcome == "success", 10.0, outcome, 1, 0, outcome=outcome)
    store.start_trial("live", "still going", "pick_place")
    store.close()
    db = open_database(tmp_path / "traces.db")
    with db:  # a trial recorded before outcomes existed, and one whose agent died
        db.execute("INSERT INTO trials (id, instruction, started, ended, success) VALUES ('old','',1,2,0)")
        db.execute("UPDATE trials SET outcome = 'interrupted', ended = 3, success = 0 WHERE id = 'live'")
        db.execute("INSERT INTO trials (id, instruction, started) VALUES ('now', 'y', 4)")
    db.close()
    a = analytics.load(tmp_path)
    by_id = {t.id: t.outcome_text for t in a.trials}
    assert by_id == {**ends, "live": "interrupted", "old": "failed", "now": "running"}
    assert a.outcomes == {
        "budget_exhausted": 1,
        "cancelled": 1,
        "failed": 2,
        "interrupted": 1,
        "running": 1,
        "success": 1,
    }
    assert "cancelled" in analytics.format_tables(a) and a.to_json()["outcomes"]["interrupted"] == 1
    rows = list(csv.DictReader(io.StringIO(analytics.to_csv(a))))
    assert {r["source"]: r["outcome"] for r in rows if r["table"] == "trials"}["stop"] == "cancelled"
