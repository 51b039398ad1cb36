"""The trace store: rows land, a killed writer leaves committed rows readable, bad files are refused,
every trial end is recorded, and the trials of agents that died midway are marked interrupted."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from maestro_agent.loop import OUTCOMES, TaskCancelledError
from maestro_agent.traces.dashboard import Dashboard
from maestro_agent.traces.recorder import TraceRecorder
from maestro_agent.traces.store import SCHEMA, TraceStore, has_column, open_database
from test.unit.test_loop import StallingVLM, agent_for


def test_a_recorded_trial_reads_back(tmp_path: Path) -> None:
    store = TraceStore(tmp_path)
    recorder = TraceRecorder(store, vlm="scripted", task_type=lambda: "ball_in_bowl")
    recorder.record("trial_start", trial_id="t1", instruction="put the ball in the bowl")
    recorder.record("phase", phase="executing", substep=1, current_subtask=0, plan=["a"], code="x = 1")
    recorder.record("code", substep=1, code="x = 1")
    recorder.record("line", line=1)
    recorder.record(
        "tool_call",
        module="robot",
        function="grasp",
        category="control",
        success=False,
        error_code=9,
        message="closed on nothing",
        line=1,
        duration=0.5,
    )
    recorder.record("image", label="scene camera", image=np.zeros((4, 4, 3), np.uint8), substep=1)
    recorder.robot_state(["j1", "j2"], [0.1, 0.2])
    recorder.robot_state(["j1", "j2"], [0.1, 0.3])  # within the period: dropped
    recorder.record("outcome", success=True, progress=100.0, summary="ok", substeps=1, replans=0)
    store.close()
    db = open_database(tmp_path / "traces.db")
    assert db.execute("SELECT task_type, success, progress, vlm FROM trials").fetchall() == [
        ("ball_in_bowl", 1, 100.0, "scripted")
    ]
    assert db.execute("SELECT kind, substep, line FROM events ORDER BY id").fetchall() == [
        ("phase", 1, 0),
        ("code", 1, 0),
        ("line", 1, 1),
        ("outcome", 1, 0),
    ]
    assert db.execute("SELECT function, success, error_code, substep FROM tool_calls").fetchall() == [
        ("grasp", 0, 9, 1)
    ]
    assert db.execute("SELECT names, positions FROM robot_states").fetchall() == [
        ('["j1", "j2"]', "[0.1, 0.2]")
    ]
    (path,) = db.execute("SELECT path FROM images").fetchone()
    assert (tmp_path / path).is_file()


def test_a_process_killed_midway_leaves_its_committed_rows_readable(tmp_path: Path) -> None:
    script = (
        "import os, time, sys\n"
        "from maestro_agent.traces.store import TraceStore\n"
        "s = TraceStore(sys.argv[1], batch_s=0.01)\n"
        "s.start_trial('t', 'task')\n"
        "for i in range(200): s.event('t', 'line', line=i, data={'i': i})\n"
        "s.flush()\n"
        "os.kill(os.getpid(), 9)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=False, timeout=60)
    db = open_database(tmp_path / "traces.db")
    assert db.execute("SELECT count(*) FROM events").fetchone() == (200,)


def test_foreign_and_corrupt_files_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE x (y)").connection.commit()
    before = foreign.read_bytes()
    with pytest.raises(ValueError, match=r"not a Maestro trace store|schema no version"):
        open_database(foreign)
    with pytest.raises(ValueError, match=r"not a Maestro trace store|schema no version"):
        open_database(foreign, create=True)
    assert foreign.read_bytes() == before  # refused without writing to it
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValueError, match="not a Maestro trace store"):
        open_database(corrupt)
    with pytest.raises(LookupError, match="no trace store"):
        open_database(tmp_path / "missing.db")


def test_every_kind_of_trial_end_is_recorded_and_shown(tmp_path: Path) -> None:
    store = TraceStore(tmp_path, batch_s=0.01)
    recorder = TraceRecorder(store, vlm="scripted")
    kinds = [kind for kind in OUTCOMES if kind != "interrupted"]
    for n, kind in enumerate(kinds):
        recorder.record("trial_start", trial_id=f"t{n}", instruction="pick the cube")
        recorder.record("phase", phase="executing", substep=1, current_subtask=0, plan=["a"], code="x")
        recorder.record(
            "outcome", trial_id=f"t{n}", outcome=kind, success=kind == "success", progress=10.0 * n,
            summary=f"{kind} after 1 substep(s)", reason=f"because {kind}", substeps=1, replans=0,
        )  # fmt: skip
    store.close()
    db = open_database(tmp_path / "traces.db")
    rows = db.execute("SELECT id, outcome, success, progress, summary, reason, ended FROM trials ORDER BY id")
    for n, (trial_id, outcome, success, progress, summary, reason, ended) in enumerate(rows.fetchall()):
        expected = (f"t{n}", kinds[n], int(kinds[n] == "success"), 10.0 * n)
        assert (trial_id, outcome, success, progress) == expected
        assert summary.startswith(kinds[n]) and reason == f"because {kinds[n]}" and ended is not None
    shown = {t["id"]: t["outcome"] for t in Dashboard(tmp_path).trials()}
    assert shown == {f"t{n}": kind for n, kind in enumerate(kinds)}


def test_a_trial_cancelled_while_the_vlm_stalls_gets_its_end_record(tmp_path: Path) -> None:
    store = TraceStore(tmp_path, batch_s=0.01)
    stalled = StallingVLM()
    agent = agent_for(stalled, events=TraceRecorder(store, vlm="stalling"))
    threading.Timer(0.2, agent.cancel, kwargs={"reason": "the agent is shutting down"}).start()
    with pytest.raises(TaskCancelledError):
        agent.run_task("pick the cube")
    stalled.release.set()
    store.close()
    db = open_database(tmp_path / "traces.db")
    ((trial_id, outcome, summary, progress),) = db.execute(
        "SELECT id, outcome, summary, progress FROM trials WHERE ended IS NOT NULL"
    ).fetchall()
    assert trial_id == agent.trial.trial_id and outcome == "cancelled" and progress == 100.0
    assert summary == "cancelled after 0 substep(s), 0 replan(s): the agent is shutting down"


def record_and_wait(root: Path, trial_id: str, die: bool) -> subprocess.Popen[str]:
    """Another process records the start of a trial, then is SIGKILLed (``die``) or keeps running."""
    script = (
        "import os, sys, time\n"
        "from maestro_agent.traces.store import TraceStore\n"
        "s = TraceStore(sys.argv[1], batch_s=0.01)\n"
        "s.start_trial(sys.argv[2], 'pick the cube')\n"
        "s.event(sys.argv[2], 'phase', 1, data={'phase': 'executing'})\n"
        "s.flush()\n"
        "print('recorded', flush=True)\n"
        "os.kill(os.getpid(), 9) if sys.argv[3] == 'die' else time.sleep(60)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(root), trial_id, "die" if die else "live"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "recorded\n"
    return process


def test_trials_of_dead_agents_are_marked_interrupted_when_an_agent_opens_the_store(tmp_path: Path) -> None:
    killed = record_and_wait(tmp_path, "killed", die=True)
    killed.wait(30)
    live = record_and_wait(tmp_path, "live", die=False)
    db = open_database(tmp_path / "traces.db", create=True)
    insert = "INSERT INTO trials (id, instruction, started) VALUES (?, 'x', ?)"
    with db:  # trials of an older Maestro (no owner): judged by their last row's age
        db.execute(insert, ("old", time.time() - 900))
        db.execute(insert, ("recent", time.time()))
    db.close()
    try:
        store = TraceStore(tmp_path)
        assert sorted(TraceRecorder(store).interrupted) == ["killed", "old"]
        assert TraceRecorder(store).interrupted == []  # once
        store.close()
        trials = {t["id"]: t for t in Dashboard(tmp_path).trials()}
        assert {i: t["outcome"] for i, t in trials.items()} == {
            "killed": "interrupted", "old": "interrupted", "live": "running", "recent": "running"
        }  # fmt: skip
        assert trials["killed"]["summary"] == (
            f"interrupted: its agent (pid {killed.pid}) ended without ending the trial (killed or crashed)"
        )
        replay = Dashboard(tmp_path).trial("killed")
        assert replay["trial"]["outcome"] == "interrupted" and replay["events"][-1]["kind"] == "outcome"
        assert replay["trial"]["ended"] == replay["events"][0]["t"]  # ended at its last recorded row
    finally:
        live.kill()
        live.wait()


def test_a_store_written_before_outcomes_is_read_and_upgraded(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "traces.db")
    db.executescript(SCHEMA)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute("INSERT INTO trials (id, instruction, started, ended, success) VALUES ('a', 'x', 1, 2, 0)")
    db.commit()
    db.close()
    assert [t["outcome"] for t in Dashboard(tmp_path).trials()] == ["failed"]
    assert Dashboard(tmp_path).trial("a")["trial"]["outcome"] == "failed"
    TraceStore(tmp_path).close()
    db = open_database(tmp_path / "traces.db")
    assert all(has_column(db, "trials", column) for column in ("outcome", "reason", "owner"))
