"""Trace store exports: a rosbag2 (MCAP) that reads back, a LeRobot dataset, clear errors, the CLI."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from maestro_agent.traces.export import export_lerobot, export_rosbag, typestore
from maestro_agent.traces.export_cli import register
from maestro_agent.traces.recorder import TraceRecorder
from maestro_agent.traces.store import TraceStore, open_database
from maestro_tools.common.errors import InvalidArgumentError, NoDataError, NotFoundError

PANDA = [*(f"panda_joint{i}" for i in range(1, 8)), "panda_finger_joint1", "panda_finger_joint2"]
RED, GREEN, BLUE = (200, 30, 30), (30, 200, 30), (30, 30, 200)
STATES = 21  # 2 s at 10 Hz


def _image(rgb: tuple[int, int, int]) -> np.ndarray:
    return np.full((48, 64, 3), rgb, np.uint8)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trial "good" (successful: states, scene images red then green, events, a tool call); "bad" (failed)."""
    root = tmp_path_factory.mktemp("traces")
    store = TraceStore(root, batch_s=0.01)
    recorder = TraceRecorder(store, vlm="scripted", task_type=lambda: "ball_in_bowl")
    recorder.record("trial_start", trial_id="good", instruction="put the ball in the bowl")
    recorder.record("phase", phase="planning", substep=0, plan=[], current_subtask=0, code="", replans=0)
    recorder.record("image", label="scene camera", image=_image(RED), substep=0)
    recorder.record("image", label="wrist camera", image=_image(BLUE), substep=0)
    recorder.record("plan", plan=["reach", "grasp"], reasoning="two steps")
    recorder.record("tokens", purpose="plan", input_tokens=120, output_tokens=30, seconds=1.0, model="m")
    recorder.record(
        "phase", phase="executing", substep=1, plan=["reach", "grasp"], current_subtask=1, code=""
    )
    recorder.record("code", substep=1, code="robot.grasp('ball')", current_subtask=1)
    recorder.record("line", line=1)
    recorder.record(
        "tool_call", module="robot", function="grasp", category="control", arguments="'ball'", success=True,
        line=1, duration=0.5,
    )  # fmt: skip
    time.sleep(0.6)
    recorder.record("image", label="scene camera", image=_image(GREEN), substep=1)
    recorder.record("image", label="grasps", shape=[4, 4, 3])  # the sandbox's note that it showed one
    recorder.record(
        "judgement", substep=1, decision="complete", reason="done", reasoning="in the bowl", progress=100
    )
    recorder.record("outcome", success=True, progress=100.0, summary="ok", substeps=1, replans=0)
    recorder.record("trial_start", trial_id="bad", instruction="stack the cubes")
    recorder.record("outcome", success=False, progress=0.0, summary="no", substeps=1, replans=0)
    store.flush()
    db = open_database(root / "traces.db")
    first_scene = db.execute("SELECT min(t) FROM images WHERE trial_id = 'good'").fetchone()[0]
    db.close()
    for k in range(STATES):  # from 0.5 s before the first scene image, 2 s long
        store.robot_state(
            "good", first_scene - 0.5 + 0.1 * k, PANDA, [0.1 * k + j for j in range(7)] + [0.02, 0.02]
        )
    store.close()
    return root


def test_a_trial_exports_as_an_mcap_rosbag_that_reads_back(store: Path, tmp_path: Path) -> None:
    from rosbags.rosbag2 import Reader

    bag = export_rosbag(store, "good", tmp_path / "bag")
    assert (bag / "bag.mcap").is_file()
    assert "storage_identifier: mcap" in (bag / "metadata.yaml").read_text()
    types = typestore()
    with Reader(bag) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        assert counts == {
            "/maestro/joint_states": STATES,
            "/maestro/vlm_images/compressed": 3,
            "/maestro/trace": 10,
        }
        decoded = {c.topic: [] for c in reader.connections}
        for connection, stamp, raw in reader.messages():
            decoded[connection.topic].append((stamp, types.deserialize_cdr(raw, connection.msgtype)))
    stamp, state = decoded["/maestro/joint_states"][1]
    assert list(state.name) == PANDA
    assert state.position[:2] == pytest.approx([0.1, 1.1]) and state.position[7:].sum() == pytest.approx(0.04)
    assert stamp == state.header.stamp.sec * 10**9 + state.header.stamp.nanosec
    image = decoded["/maestro/vlm_images/compressed"][0][1]
    assert image.format == "jpeg" and image.header.frame_id == "scene camera"
    assert cv2.imdecode(image.data, cv2.IMREAD_COLOR)[0, 0] == pytest.approx(RED[::-1], abs=12)
    events = [message for _, message in decoded["/maestro/trace"]]
    assert [e.kind for e in events] == [4, 4, 0, 9, 1, 2, 3, 4, 5, 10]
    plan, tokens, call, judgement = events[2], events[3], events[6], events[8]
    assert list(plan.plan) == ["reach", "grasp"] and plan.text == "two steps" and plan.trial_id == "good"
    assert (tokens.input_tokens, tokens.output_tokens) == (120, 30)
    assert (call.tool_call.module, call.tool_call.function, call.tool_call.success) == (
        "robot",
        "grasp",
        True,
    )
    assert (call.substep, call.current_subtask, call.line) == (1, 1, 1)
    assert judgement.text == "in the bowl" and judgement.progress == pytest.approx(100.0)


def test_the_bag_describes_its_own_types(store: Path, tmp_path: Path) -> None:
    from rosbags.highlevel import AnyReader

    bag = export_rosbag(store, "good", tmp_path / "bag")
    with AnyReader([bag]) as reader:  # types from the definitions stored in the bag
        trace = [c for c in reader.connections if c.topic == "/maestro/trace"]
        raws = [raw for _, _, raw in reader.messages(connections=trace)]
        assert reader.deserialize(raws[0], trace[0].msgtype).text == "scene camera"
    generated = Path(sys.prefix) / "share" / "maestro_msgs" / "msg" / "TraceEvent.json"
    if generated.is_file():  # the type hash rosidl computed for the built message
        hashes = {h["type_name"]: h["hash_string"] for h in json.loads(generated.read_text())["type_hashes"]}
        assert trace[0].digest == hashes["maestro_msgs/msg/TraceEvent"]
    serialization = pytest.importorskip("rclpy.serialization")
    messages = pytest.importorskip("maestro_msgs.msg")
    call = serialization.deserialize_message(bytes(raws[6]), messages.TraceEvent)
    assert (call.kind, call.tool_call.function, call.tool_call.duration) == (3, "grasp", 0.5)


def _episode(dataset: Path) -> tuple[dict, list[dict], dict]:
    info = json.loads((dataset / "meta" / "info.json").read_text())
    episodes = [json.loads(line) for line in (dataset / "meta" / "episodes.jsonl").read_text().splitlines()]
    table = pq.read_table(dataset / "data" / "chunk-000" / "episode_000000.parquet").to_pydict()
    return info, episodes, table


def test_successful_trials_export_as_a_lerobot_dataset_with_video(store: Path, tmp_path: Path) -> None:
    dataset = export_lerobot(store, tmp_path / "ds")
    info, episodes, table = _episode(dataset)
    assert info["codebase_version"] == "v2.1" and info["fps"] == 10 and info["robot_type"] == "franka"
    assert (info["total_episodes"], info["total_tasks"], info["splits"]) == (1, 1, {"train": "0:1"})
    features = info["features"]
    assert features["observation.state"] == {"dtype": "float32", "shape": [9], "names": PANDA}
    assert features["action"]["shape"] == [9] and features["observation.images.scene"]["shape"] == [48, 64, 3]
    assert features["observation.images.scene"]["dtype"] == "video"
    assert [(e["trial_id"], e["tasks"], e["length"]) for e in episodes] == [
        ("good", ["put the ball in the bowl"], info["total_frames"])
    ]
    assert json.loads((dataset / "meta" / "tasks.jsonl").read_text()) == {
        "task_index": 0,
        "task": "put the ball in the bowl",
    }
    stats = json.loads((dataset / "meta" / "episodes_stats.jsonl").read_text())["stats"]
    assert np.array(stats["observation.state"]["mean"]).shape == (9,)
    assert np.array(stats["observation.images.scene"]["mean"]).shape == (3, 1, 1)
    assert stats["observation.images.scene"]["count"] == [info["total_frames"]]
    state, action = np.array(table["observation.state"]), np.array(table["action"])
    assert abs(len(state) - 2.0 * 10) <= 1 and len(state) == info["total_frames"]
    assert state.shape == action.shape == (len(state), 9)
    np.testing.assert_allclose(state[:, 0], 0.1 * np.arange(len(state)), atol=1e-5)
    np.testing.assert_allclose(action[:-1], state[1:]) and np.testing.assert_allclose(action[-1], state[-1])
    assert table["frame_index"] == list(range(len(state))) and table["index"] == table["frame_index"]
    assert table["timestamp"] == pytest.approx(np.arange(len(state)) / 10)
    video = cv2.VideoCapture(str(dataset / info["video_path"].format(
        episode_chunk=0, video_key="observation.images.scene", episode_index=0)))  # fmt: skip
    frames = []
    while (frame := video.read())[0]:
        frames.append(frame[1][24, 32, ::-1].astype(int))
    assert len(frames) == len(state)
    # The green scene image lands >= 0.6 s after the red one, which is 0.5 s after the first state.
    assert np.abs(frames[0] - RED).max() < 40 and np.abs(frames[-1] - GREEN).max() < 40
    assert np.abs(frames[5] - RED).max() < 40


def test_images_can_go_into_the_parquet_rows_and_failed_trials_on_request(
    store: Path, tmp_path: Path
) -> None:
    dataset = export_lerobot(store, tmp_path / "ds", trial_ids=["good", "bad"], fps=5, video=False)
    info, episodes, table = _episode(dataset)
    assert [e["trial_id"] for e in episodes] == ["good"]  # "bad" has no joint states: skipped
    assert info["features"]["observation.images.scene"]["dtype"] == "image" and info["video_path"] is None
    assert abs(len(table["action"]) - 2.0 * 5) <= 1
    first = cv2.imdecode(
        np.frombuffer(table["observation.images.scene"][0]["bytes"], np.uint8), cv2.IMREAD_COLOR
    )
    assert first.shape == (48, 64, 3) and np.abs(first[0, 0, ::-1].astype(int) - RED).max() < 40


def test_bad_input_is_refused_with_clear_messages(store: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"no trial 'nope'.*latest are bad, good.*maestro dashboard"):
        export_rosbag(store, "nope", tmp_path / "bag")
    with pytest.raises(NotFoundError, match="no trial 'nope'"):
        export_lerobot(store, tmp_path / "ds", trial_ids=["nope"])
    busy = tmp_path / "busy"
    (busy / "x").mkdir(parents=True)
    with pytest.raises(InvalidArgumentError, match="not an empty folder; pass another --out"):
        export_rosbag(store, "good", busy)
    with pytest.raises(InvalidArgumentError, match="not an empty folder"):
        export_lerobot(store, busy)
    with pytest.raises(NoDataError, match="none of the 1 trial"):
        export_lerobot(store, tmp_path / "ds", trial_ids=["bad"])
    assert not (tmp_path / "ds").exists() and [p.name for p in tmp_path.iterdir()] == ["busy"]  # nothing left
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    sqlite3.connect(foreign / "traces.db").execute("CREATE TABLE x (y)").connection.commit()
    with pytest.raises(InvalidArgumentError, match="not a Maestro trace store"):
        export_lerobot(foreign, tmp_path / "ds")
    db = sqlite3.connect(foreign / "traces.db")
    db.executescript(
        "CREATE TABLE meta (key TEXT, value TEXT); INSERT INTO meta VALUES ('schema_version', '1');"
    )
    db.close()
    with pytest.raises(
        InvalidArgumentError, match=r"not a readable Maestro trace store.*no such table: trials"
    ):
        export_lerobot(foreign, tmp_path / "ds")
    (foreign / "traces.db").write_bytes(b"not sqlite" * 200)
    with pytest.raises(InvalidArgumentError, match="not a Maestro trace store"):
        export_rosbag(foreign, "good", tmp_path / "bag")
    with pytest.raises(NotFoundError, match="no trace store"):
        export_rosbag(tmp_path / "missing", "good", tmp_path / "bag")
    failed_only = tmp_path / "failed_only"
    only = TraceStore(failed_only)
    only.start_trial("f", "task")
    only.end_trial("f", False, 0.0, "no", 1, 0)
    only.close()
    with pytest.raises(NoDataError, match=r"no successful trials.*--trial"):
        export_lerobot(failed_only, tmp_path / "ds")


def test_register_adds_the_export_commands(store: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MAESTRO_TRACE_DIR", str(store))
    parser = argparse.ArgumentParser(prog="maestro")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["export", "lerobot", "--out", "d", "--trial", "a", "b", "--trial", "c", "--fps", "5"]
    )
    assert (args.command, args.format, args.trial, args.fps, args.store) == (
        "export",
        "lerobot",
        ["a", "b", "c"],
        5,
        store,
    )
    args = parser.parse_args(["export", "lerobot", "--out", str(tmp_path / "ds")])
    assert args.trial is None and args.fps == 10 and args.handler(args) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "ds")
    args = parser.parse_args(
        ["export", "rosbag", "--trial", "good", "--out", str(tmp_path / "bag"), "--store", str(store)]
    )
    assert args.handler(args) == 0 and capsys.readouterr().out.strip() == str(tmp_path / "bag")
    with pytest.raises(SystemExit):
        parser.parse_args(["export", "rosbag", "--out", "x"])  # --trial is required
