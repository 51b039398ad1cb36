"""Web tests: a real headless Chromium (over DevTools) against the dashboard serving fixture stores."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from maestro_agent.traces import store as store_module
from maestro_agent.traces.dashboard import make_server
from maestro_agent.traces.recorder import TraceRecorder
from maestro_agent.traces.store import TraceStore, open_database
from test.web.cdp import Browser, find_chromium

T0 = 1_700_000_000.0
CODE1 = """objects = perception.detect("tennis ball")
pose = geometry.pose_between(objects[0], "gripper")
grasping.pick(objects[0])
print("picked")
robot.move_gripper_to(pose)"""
CODE2 = """ball = perception.detect("tennis ball")[0]
grasping.pick(ball, approach="top")
robot.move_gripper_to(bowl_pose)
robot.open_gripper()"""


class FakeClock:
    """Stands in for the store's ``time`` module so recorded rows get chosen timestamps."""

    monotonic = staticmethod(time.monotonic)

    def __init__(self, t: float) -> None:
        self.t = t

    def time(self) -> float:
        return self.t


def picture(color: tuple[int, int, int], box: bool = False) -> np.ndarray:
    image = np.zeros((96, 128, 3), np.uint8)
    image[:] = color
    cv2.circle(image, (64, 48), 14, (230, 230, 60), -1)
    if box:
        cv2.rectangle(image, (46, 30), (82, 66), (255, 0, 0), 2)
    return image


def video_colour(index: int) -> tuple[int, int, int]:
    """The flat RGB colour of the fixture's video frame ``index`` (tests read it back from the page)."""
    return (15 * index, 255 - 15 * index, 128)


def record_replay_trial(root: Path, trial_id: str = "replay1") -> None:
    """A realistic trial: a plan, a failed grasp judged 'retry', a second substep that completes.

    Seconds after T0: the plan at 1.0; line events of substep 1 at 1.2 / 1.6 / 2.1, of substep 2 at
    4.6 / 5.1 / 6.1 / 7.1; 'scene camera' images at 0.2, 3.3, 7.6 and a 'detections' image at 3.2;
    outcome at 8.1; video frames (640x480, flat ``video_colour(k)``) every 0.5 s from 0.0 to 8.0.
    """
    clock = FakeClock(T0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store_module, "time", clock)
        store = TraceStore(root, batch_s=0.01)
        rec = TraceRecorder(store, vlm="scripted", task_type=lambda: "ball_in_bowl")
        plan = ["locate the ball", "pick up the ball", "place it in the bowl"]
        steps: list[tuple[float, str, dict]] = [
            (0.0, "trial_start", {"trial_id": trial_id, "instruction": "put the tennis ball into the bowl"}),
            (0.1, "phase", {"phase": "planning", "substep": 0, "plan": [], "current_subtask": 0, "code": ""}),
            (0.2, "image", {"label": "scene camera", "image": picture((40, 90, 40)), "substep": 0}),
            (1.0, "tokens", {"purpose": "plan", "input_tokens": 1200, "output_tokens": 300, "seconds": 0.8}),
            (
                1.0,
                "plan",
                {"plan": plan, "reasoning": "The ball lies left of the bowl; detect it, then grasp."},
            ),
            (
                1.1,
                "phase",
                {"phase": "executing", "substep": 1, "plan": plan, "current_subtask": 0, "code": CODE1},
            ),
            (1.1, "code", {"substep": 1, "code": CODE1, "current_subtask": 0}),
            (1.2, "line", {"line": 1}),
            (
                1.5,
                "tool_call",
                {
                    "module": "perception",
                    "function": "detect",
                    "category": "perception",
                    "arguments": "'tennis ball'",
                    "duration": 0.3,
                    "line": 1,
                },
            ),
            (1.6, "line", {"line": 2}),
            (
                2.0,
                "tool_call",
                {"module": "geometry", "function": "pose_between", "category": "geometry", "line": 2},
            ),
            (2.1, "line", {"line": 3}),
            (
                2.5,
                "tool_call",
                {
                    "module": "robot",
                    "function": "move_gripper_to",
                    "category": "control",
                    "depth": 1,
                    "line": 3,
                    "duration": 0.4,
                },
            ),
            (
                3.0,
                "tool_call",
                {
                    "module": "grasping",
                    "function": "pick",
                    "category": "grasping",
                    "line": 3,
                    "success": False,
                    "error_code": 9,
                    "message": "gripper closed on nothing",
                },
            ),
            (3.1, "stdout", {"text": "Traceback: GraspFailedError: gripper closed on nothing\n"}),
            (3.2, "image", {"label": "detections", "image": picture((40, 40, 90), box=True), "substep": 1}),
            (3.3, "image", {"label": "scene camera", "image": picture((90, 40, 40)), "substep": 1}),
            (
                3.4,
                "phase",
                {"phase": "reacting", "substep": 1, "plan": plan, "current_subtask": 0, "code": CODE1},
            ),
            (
                4.0,
                "judgement",
                {
                    "substep": 1,
                    "decision": "retry",
                    "reason": "the grasp closed on nothing",
                    "reasoning": "The ball moved when touched; grasp from the top.",
                    "progress": 10,
                },
            ),
            (
                4.0,
                "replan",
                {"substep": 1, "plan": plan, "reason": "the grasp closed on nothing", "decision": "retry"},
            ),
            (
                4.0,
                "phase",
                {"phase": "replanning", "substep": 1, "plan": plan, "current_subtask": 1, "code": CODE2},
            ),
            (
                4.5,
                "phase",
                {"phase": "executing", "substep": 2, "plan": plan, "current_subtask": 1, "code": CODE2},
            ),
            (4.5, "code", {"substep": 2, "code": CODE2, "current_subtask": 1}),
            (4.6, "line", {"line": 1}),
            (
                5.0,
                "tool_call",
                {"module": "perception", "function": "detect", "category": "perception", "line": 1},
            ),
            (5.1, "line", {"line": 2}),
            (6.0, "tool_call", {"module": "grasping", "function": "pick", "category": "grasping", "line": 2}),
            (6.1, "line", {"line": 3}),
            (
                7.0,
                "tool_call",
                {"module": "robot", "function": "move_gripper_to", "category": "control", "line": 3},
            ),
            (7.1, "line", {"line": 4}),
            (
                7.5,
                "tool_call",
                {"module": "robot", "function": "open_gripper", "category": "control", "line": 4},
            ),
            (7.6, "image", {"label": "scene camera", "image": picture((90, 90, 40)), "substep": 2}),
            (
                7.7,
                "phase",
                {"phase": "reacting", "substep": 2, "plan": plan, "current_subtask": 2, "code": CODE2},
            ),
            (
                8.0,
                "judgement",
                {
                    "substep": 2,
                    "decision": "complete",
                    "reason": "the ball is in the bowl",
                    "reasoning": "",
                    "progress": 100,
                },
            ),
            (
                8.1,
                "outcome",
                {
                    "success": True,
                    "progress": 100.0,
                    "summary": "succeeded after 2 substep(s), 1 replan(s)",
                    "substeps": 2,
                    "replans": 1,
                },
            ),
        ]
        for offset, kind, fields in steps:
            clock.t = T0 + offset
            rec.record(kind, **fields)
        for k in range(17):
            frame = np.full((480, 640, 3), video_colour(k), np.uint8)
            store.video_frame(trial_id, T0 + 0.5 * k, 0 if k < 3 else 1 if k < 9 else 2, frame)
        store.close()


def record_missing_image_trial(root: Path) -> None:
    """A short finished trial whose only image file was deleted afterwards."""
    store = TraceStore(root, batch_s=0.01)
    store.start_trial("noimage", "look at the table", "inspect")
    path = store.image("noimage", 0, "scene camera", picture((20, 20, 20)))
    store.event("noimage", "code", 1, data={"code": "perception.detect('cup')"})
    store.end_trial("noimage", False, 0.0, "failed", 1, 0)
    store.close()
    path.unlink()


def build_big_store(root: Path, calls: int = 10_000) -> None:
    """One trial with ``calls`` depth-0 tool calls over 100 substeps (rows inserted directly)."""
    modules = [
        ("robot", "move_gripper_to", "control"),
        ("perception", "detect", "perception"),
        ("grasping", "pick", "grasping"),
        ("geometry", "pose_between", "geometry"),
    ]
    db = open_database(root / "traces.db", create=True)
    with db:
        db.execute(
            "INSERT INTO trials (id, instruction, task_type, started, ended, success, substeps) "
            "VALUES ('big', 'stress', 'stress', ?, ?, 1, 100)",
            (T0, T0 + calls * 0.01 + 1),
        )
        code = "\n".join(f"robot.step({i})" for i in range(20))
        db.executemany(
            "INSERT INTO events (trial_id, t, kind, substep, data) VALUES ('big', ?, 'code', ?, ?)",
            [(T0 + s * calls * 0.0001, s + 1, json.dumps({"code": code})) for s in range(100)],
        )
        db.executemany(
            "INSERT INTO tool_calls (trial_id, t, substep, line, module, function, category, success, depth) "
            "VALUES ('big', ?, ?, ?, ?, ?, ?, ?, 0)",
            [
                (T0 + 0.01 * n + 0.005, 1 + n * 100 // calls, 1 + n % 20, *modules[n % 4], n % 50 != 0)
                for n in range(calls)
            ],
        )
    db.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.skip("no chromium binary (apt-get install chromium, or set MAESTRO_CHROMIUM)")
    instance = Browser(executable)
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def serve_store() -> Iterator[Callable[[Path], str]]:
    """serve_store(root) -> base URL of a dashboard serving ``root`` (stopped at the session's end)."""
    servers = []

    def start(root: Path) -> str:
        server = make_server(root, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def trial_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("traces")
    record_replay_trial(root)
    record_missing_image_trial(root)
    return root
