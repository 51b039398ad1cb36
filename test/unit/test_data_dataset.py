"""The data engine's LeRobot export of amplified episodes and its read-back verification (no simulator)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from maestro_agent.data.amplify import Replay, write_episode
from maestro_agent.data.collect import SceneSetting
from maestro_agent.data.dataset import export, verify


def fake_episodes(root: Path, count: int = 2, frames: int = 12) -> Path:
    """Episode folders as ``amplify`` writes them: states at 10 fps, a camera frame every other state."""
    for e in range(count):
        folder = root / "episodes" / f"ball_in_bowl-pose-{e:06d}-000"
        (folder / "frames").mkdir(parents=True)
        times = np.arange(frames) / 10.0
        states = np.linspace(0.0, 1.0, frames)[:, None] * np.arange(1, 10) + e
        paths, shown = [], []
        for k in range(0, frames, 2):
            image = np.full((48, 64, 3), 20 * k, np.uint8)
            path = folder / "frames" / f"{k:06d}.jpg"
            cv2.imwrite(str(path), image)
            paths.append(path)
            shown.append(float(times[k]))
        replay = Replay(True, 100.0, times, states, paths, shown, float(times[-1]))
        write_episode(
            folder,
            replay,
            "Put the tennis ball into the bowl.",
            SceneSetting("ball_in_bowl", e, "pose"),
            "synthetic",
        )
    return root


@pytest.mark.parametrize("video", [True, False])
def test_export_then_verify_round_trips(tmp_path: Path, video: bool) -> None:
    dataset = export(fake_episodes(tmp_path / "amplified"), tmp_path / "dataset", fps=10, video=video)
    report = verify(dataset)
    assert report.ok, report.summary()
    assert report.episodes == 2 and report.frames == 24
    info = json.loads((dataset / "meta" / "info.json").read_text())
    assert info["robot_type"] == "franka" and info["features"]["observation.state"]["shape"] == [9]
    assert "warped" in info["maestro"]["episodes"]


def test_verify_finds_damaged_episodes(tmp_path: Path) -> None:
    dataset = export(fake_episodes(tmp_path / "amplified"), tmp_path / "dataset", fps=10)
    stats = dataset / "meta" / "episodes_stats.jsonl"
    lines = [json.loads(line) for line in stats.read_text().splitlines()]
    lines[0]["stats"]["action"]["max"][0] += 1.0
    stats.write_text("".join(json.dumps(line) + "\n" for line in lines))
    next(dataset.glob("videos/**/episode_000001.mp4")).unlink()
    report = verify(dataset)
    assert not report.ok
    assert any("episode 0: stats action.max" in p for p in report.problems), report.problems
    assert any("episode 1: video" in p for p in report.problems), report.problems


def test_collect_reads_the_settings_of_an_eval_sweep_or_a_sweep_json(tmp_path: Path) -> None:
    from maestro_agent.data.collect import SceneSetting, sweep_settings, sweep_store
    from maestro_agent.evaluation.results import ResultsWriter

    writer = ResultsWriter(tmp_path / "results.jsonl")
    row = {"task": "ball_in_bowl", "axis": "pose", "seed": 3, "error": ""}
    writer.append({**row, "key": "a", "trial_id": "t-crashed", "error": "graph crashed"})
    writer.append({**row, "key": "a", "trial_id": "t-a"})  # the rerun: the last row counts
    writer.append({**row, "key": "b", "seed": 4, "axis": "none", "trial_id": "t-b"})
    want = {"t-a": SceneSetting("ball_in_bowl", 3, "pose"), "t-b": SceneSetting("ball_in_bowl", 4, "none")}
    assert sweep_settings(tmp_path) == sweep_settings(tmp_path / "results.jsonl") == want
    (tmp_path / "sweep.json").write_text(json.dumps({"trials": [{"trial_id": "x", "task": "t", "seed": 1}]}))
    assert sweep_settings(tmp_path / "sweep.json") == {"x": SceneSetting("t", 1, "none")}
    assert sweep_store(tmp_path) is None  # no OUT/traces/traces.db yet
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "traces.db").write_bytes(b"")
    assert sweep_store(tmp_path / "results.jsonl") == tmp_path / "traces"
