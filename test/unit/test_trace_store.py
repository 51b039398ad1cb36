"""The trace store: rows land, a killed writer leaves committed rows readable, bad files are refused."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from maestro_agent.traces.recorder import TraceRecorder
from maestro_agent.traces.store import TraceStore, open_database


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
