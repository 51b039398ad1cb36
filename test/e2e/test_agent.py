"""The agent end to end: the Franka simulation graph with the scripted VLM, driven over ROS from this
process (another process than every node of the graph)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
from rclpy.node import Node
from sensor_msgs.msg import JointState

from maestro_agent.traces.dashboard import make_server
from maestro_msgs.action import RunTask
from maestro_msgs.msg import TraceEvent
from maestro_msgs.srv import ResetScene
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.qos import STATE_QOS
from test.e2e.launched import launched
from test.ros.helpers import call, goal_result, ros_graph, send_goal, unique, wait_for

NS = "/maestro"
PROGRAMS = Path(__file__).resolve().parent / "programs"


class Client:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.run_task = ThreadSafeActionClient(node, RunTask, f"{NS}/run_task")
        self.reset = node.create_client(ResetScene, f"{NS}/reset_scene")
        self.positions: list[tuple[float, np.ndarray]] = []  # (wall time, arm joints)
        self.trace: list[TraceEvent] = []
        node.create_subscription(JointState, f"{NS}/joint_states", self._joints, STATE_QOS)
        node.create_subscription(TraceEvent, f"{NS}/trace", self.trace.append, 100)

    def _joints(self, message: JointState) -> None:
        self.positions = [*self.positions[-200:], (time.monotonic(), np.asarray(message.position[:7]))]

    def motion(self, window: float = 0.1) -> float | None:
        """Largest joint travel (rad) over the last ``window`` seconds of wall time; None when fewer than two
        joint states arrived in it (the sim pauses its stream while it renders a snapshot)."""
        now, recent = time.monotonic(), list(self.positions)
        window_positions = [q for t, q in recent if now - t <= window]
        if len(window_positions) < 2:
            return None
        stacked = np.array(window_positions)
        return float((stacked.max(axis=0) - stacked.min(axis=0)).max())

    def moving(self) -> bool:
        travel = self.motion()
        return travel is not None and travel > 0.01

    def still(self) -> bool:
        travel = self.motion()
        return travel is not None and travel < 0.002

    def reset_scene(self, seed: int) -> None:
        response = call(self.reset, ResetScene.Request(task="ball_in_bowl", seed=seed))
        assert response.success, response.message


@pytest.fixture(scope="module")
def trace_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("traces")


LAUNCHER: list[subprocess.Popen] = []  # the module's launcher, for the fault test


@pytest.fixture(scope="module")
def franka(trace_dir: Path) -> Iterator[Client]:
    arguments = ("real_time_factor:=2.0", "vlm:=scripted", f"programs:={PROGRAMS}")
    with launched("franka", *arguments, env={"MAESTRO_TRACE_DIR": str(trace_dir)}) as graph:
        LAUNCHER[:] = [graph.process]
        with ros_graph(lambda c: Node(unique("e2e_agent_client"), context=c)) as (node,):
            client = Client(node)
            assert client.run_task.wait_for_server(timeout_sec=60), graph.tail()
            yield client


def test_a_missed_grasp_is_replanned_in_one_line_and_the_ball_ends_in_the_bowl(
    franka: Client, trace_dir: Path
) -> None:
    franka.reset_scene(seed=0)
    feedback: list = []
    handle = send_goal(
        franka.run_task, RunTask.Goal(instruction="Put the tennis ball into the bowl."), feedback
    )
    result = goal_result(handle, timeout=240)
    phases = {f.feedback.phase for f in feedback}
    assert result.success, (result.summary, [f.feedback.stdout_tail for f in feedback][-3:])
    assert (result.progress, result.replans, result.substeps) == (100.0, 1, 3)
    assert {"planning", "executing", "reacting", "replanning", "done"} <= phases
    assert any(
        "closed on nothing" in f.feedback.stdout_tail or f.feedback.phase == "replanning" for f in feedback
    )
    # the trace carried the failing tool call that triggered the replan, and the images shown to the VLM
    assert wait_for(lambda: any(e.kind == TraceEvent.OUTCOME for e in franka.trace), 5)
    failed = [e.tool_call for e in franka.trace if e.kind == TraceEvent.TOOL_CALL and not e.tool_call.success]
    assert any(c.function == "grasp" and c.error_code == 9 for c in failed), failed
    assert any(e.kind == TraceEvent.LINE for e in franka.trace)
    replay, image_status = replay_over_http(trace_dir, result.trial_id)
    assert replay["trial"]["success"] == 1 and replay["trial"]["replans"] == 1
    assert set(replay["code"]) == {"1", "2", "3"} and "grasp_height" in replay["code"]["1"]
    assert any(e["kind"] == "line" and e["line"] > 0 for e in replay["events"])
    assert replay["images"] and image_status == [200] * min(3, len(replay["images"]))


def replay_over_http(trace_dir: Path, trial_id: str) -> tuple[dict, list[int]]:
    """The recorded trial as the dashboard serves it to its replay page, and its first images' statuses."""
    server = make_server(trace_dir, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{base}/api/trials/{trial_id}", timeout=10) as response:
            replay = json.loads(response.read())
        statuses = []
        for image in replay["images"][:3]:
            with opener.open(base + image["url"], timeout=10) as response:
                statuses.append(response.status)
        return replay, statuses
    finally:
        server.shutdown()


def test_cancelling_mid_motion_stops_the_arm_within_half_a_second(franka: Client) -> None:
    franka.reset_scene(seed=1)
    assert wait_for(franka.still, 10), "the arm did not settle after the reset"
    handle = send_goal(franka.run_task, RunTask.Goal(instruction="Put the tennis ball into the bowl."))
    assert wait_for(franka.moving, 60), "the arm never moved"
    cancelled_at = time.monotonic()
    handle.cancel_goal_async()
    assert wait_for(franka.still, 5), "the arm kept moving"
    stopped_after = time.monotonic() - cancelled_at - 0.1  # the still window itself
    result = goal_result(handle, timeout=30)
    assert not result.success and "cancel" in result.summary
    assert stopped_after < 0.5, f"the arm took {stopped_after:.2f} s (wall clock) to stop"


def test_an_instruction_without_a_program_fails_clearly(franka: Client) -> None:
    result = goal_result(
        send_goal(franka.run_task, RunTask.Goal(instruction="juggle three eggs")), timeout=30
    )
    assert not result.success
    assert "put the tennis ball into the bowl" in result.summary  # the instructions it has programs for


def node_process(name: str) -> psutil.Process | None:
    """The running process of the node ``name`` (``detector_node``) under the module's launcher."""
    for process in psutil.Process(LAUNCHER[0].pid).children(recursive=True):
        try:
            command = process.cmdline()
        except psutil.Error:
            continue
        if any(part.endswith(f"/{name}") for part in command) and "keeper" not in " ".join(command):
            return process
    return None


def test_a_module_killed_mid_trial_is_respawned_and_the_agent_serves_the_next_goal(franka: Client) -> None:
    franka.reset_scene(seed=2)
    detector = node_process("detector_node")
    assert detector is not None
    seen = len(franka.trace)
    handle = send_goal(franka.run_task, RunTask.Goal(instruction="Put the tennis ball into the bowl."))
    assert wait_for(lambda: any(e.kind == TraceEvent.TOOL_CALL for e in franka.trace[seen:]), 60)
    detector.kill()  # mid-trial: the next detection finds it gone, then respawned
    result = goal_result(handle, timeout=240)
    assert result.trial_id and result.summary, result  # a clean end, success or not, with its reason
    assert wait_for(lambda: (p := node_process("detector_node")) is not None and p.pid != detector.pid, 30)
    franka.reset_scene(seed=2)
    goal = RunTask.Goal(instruction="Put the tennis ball into the bowl.")
    again = goal_result(send_goal(franka.run_task, goal), timeout=240)
    assert again.success and again.progress == 100.0, again.summary
