"""The trace store: rows land, a killed writer leaves committed rows readable, bad files are refused,
every trial end is recorded, the trials of agents that died midway are marked interrupted, and every
trial's video is recorded at its rate, bounded, and served."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from maestro_agent.loop import OUTCOMES, TaskCancelledError
from maestro_agent.traces.dashboard import OVERLAP_S, Dashboard
from maestro_agent.traces.recorder import TraceRecorder
from maestro_agent.traces.store import SCHEMA, TraceStore, has_column, open_database
from maestro_agent.traces.video import VideoRecorder
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


def frames_of(root: Path, trial_id: str) -> list[tuple[float, int, str, int]]:
    db = open_database(root / "traces.db")
    try:
        query = "SELECT t, substep, path, bytes FROM video_frames WHERE trial_id = ? ORDER BY t"
        return db.execute(query, (trial_id,)).fetchall()
    finally:
        db.close()


def test_the_video_is_recorded_at_its_rate_from_start_to_outcome_and_served(tmp_path: Path) -> None:
    store = TraceStore(tmp_path, batch_s=0.01)
    grabs: list[float] = []

    def grab(timeout: float) -> np.ndarray:
        grabs.append(time.time())
        return np.full((480, 640, 3), (200, 60, 30), np.uint8)

    video = VideoRecorder(store, grab, fps=10.0)
    recorder = TraceRecorder(store, video=video)
    started = time.time()
    recorder.record("trial_start", trial_id="v1", instruction="pick the cube")
    time.sleep(0.75)
    recorder.record("phase", phase="executing", substep=1, current_subtask=0, plan=["a"], code="x")
    failed = {"module": "robot", "function": "grasp", "success": False, "message": "closed on nothing"}
    recorder.record("tool_call", **failed)
    recorder.record("tool_call", **{**failed, "depth": 1})  # inside a tool: not the code's failure
    time.sleep(0.75)
    recorder.record("outcome", success=False, progress=0.0, summary="missed", substeps=1, replans=0)
    ended = time.time()
    time.sleep(0.3)  # nothing is recorded after the outcome
    store.flush()
    rows = frames_of(tmp_path, "v1")
    times = [t for t, _, _, _ in rows]
    assert 10 <= len(rows) <= 16, len(rows)  # 1.5 s at 10 fps (a starved test thread may skip a slot)
    assert started <= times[0] < started + 0.3 and times[-1] <= ended
    gaps = np.diff(times)
    assert abs(float(np.median(gaps)) - 0.1) < 0.02 and gaps.max() < 0.5, gaps
    assert {s for _, s, _, _ in rows} == {0, 1} and len(grabs) - len(rows) in (0, 1)  # one at the end
    sizes = [n for _, _, _, n in rows]
    assert all((tmp_path / p).stat().st_size == n for _, _, p, n in rows) and max(sizes) < 20_000
    assert cv2.imread(str(tmp_path / rows[0][2])).shape == (360, 480, 3)  # downscaled to 480 wide
    ((_, what),) = video.failures("v1")
    assert what == "robot.grasp failed: closed on nothing"
    # The dashboard's API lists the frames with the trial, and serves their files.
    replay = Dashboard(tmp_path).trial("v1")
    assert [f["t"] for f in replay["video"]] == times
    assert all(f["url"] == "/images/" + f["path"] for f in replay["video"])
    assert Dashboard(tmp_path).image(replay["video"][0]["path"]) == (tmp_path / rows[0][2]).resolve()
    polled = Dashboard(tmp_path).trial("v1", since=times[0] + OVERLAP_S)["video"]  # a live page's poll
    assert [f["t"] for f in polled] == times[1:]
    store.close()


def test_a_long_video_is_thinned_to_its_cap_and_keeps_its_whole_span(tmp_path: Path) -> None:
    store = TraceStore(tmp_path, batch_s=0.01)
    video = VideoRecorder(store, lambda timeout: np.zeros((48, 64, 3), np.uint8), fps=40.0, max_frames=8)
    started = time.time()
    video.start("long")
    time.sleep(1.5)  # 60 frames at 40 fps without the cap
    video.stop()
    stopped = time.time()
    time.sleep(0.1)
    store.flush()
    rows = frames_of(tmp_path, "long")
    files = sorted((tmp_path / "long" / "video").iterdir())
    assert 4 <= len(rows) <= 8 and len(files) == len(rows), (len(rows), len(files))
    assert [str(f.relative_to(tmp_path)) for f in files] == sorted(p for _, _, p, _ in rows)
    assert rows[0][0] - started < 0.3 and stopped - rows[-1][0] < 0.5  # from the start to the end
    assert video.timeline("long") == [(t, s) for t, s, _, _ in rows]
    store.close()


def test_a_camera_that_fails_or_sends_nothing_leaves_the_trial_without_video(tmp_path: Path) -> None:
    store = TraceStore(tmp_path, batch_s=0.01)
    for trial_id, grab in (("silent", lambda timeout: None), ("broken", lambda timeout: 1 / 0)):
        video = VideoRecorder(store, grab, fps=20.0)
        video.start(trial_id)
        time.sleep(0.2)
        video.stop()
        assert video.timeline(trial_id) == [] and video.keyframes(trial_id, 8) == []
    store.flush()
    assert frames_of(tmp_path, "silent") == frames_of(tmp_path, "broken") == []
    store.close()


def test_a_store_without_the_video_table_is_read(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "traces.db")
    db.executescript(SCHEMA.split("CREATE TABLE IF NOT EXISTS video_frames")[0])
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute("INSERT INTO trials (id, instruction, started, ended, success) VALUES ('a', 'x', 1, 2, 1)")
    db.commit()
    db.close()
    assert Dashboard(tmp_path).trial("a")["video"] == []
