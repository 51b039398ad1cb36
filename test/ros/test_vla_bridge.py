"""The vla_bridge node on a real rclpy graph, against test-local fakes: a fake policy served by the shipped
policy server, and a fake robot (FollowJointTrajectory and GripperCommand servers, joint states, two
cameras, the sim's get_task_progress). Each outcome: done, timeout, no progress, cancel (the arm's
trajectory is cancelled: it holds), the server gone (refused, and dropped mid-run), the server's error."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import rclpy
from action_msgs.msg import GoalStatus
from control_msgs.action import FollowJointTrajectory, GripperCommand
from rclpy.action import ActionServer, CancelResponse
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, JointState

from maestro_msgs.action import RunPolicy
from maestro_msgs.srv import GetTaskProgress
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.errors import ErrorCode
from maestro_tools.common.spinning import BackgroundSpinner, InlineSubscriptionExecutor
from maestro_tools.common.teardown import close_context, destroy_node
from maestro_tools.robots import get_robot
from maestro_tools.vla.node import VlaBridgeNode
from maestro_tools.vla.server import PolicyServer
from test.ros.helpers import goal_outcome, send_goal, unique, wait_for

PROFILE = get_robot("franka")
JOINTS = list(PROFILE.arm.joints)
FINGERS = list(PROFILE.gripper.finger_joints)
HOME = np.array(PROFILE.arm.home)


class FakePolicy:
    """Velocity chunks: joint 1 at ``speed`` rad/s (0 = an idle policy); ``fail`` raises in infer."""

    metadata: ClassVar[dict] = {"policy": "fake", "action_horizon": 10}

    def __init__(self, speed: float = 0.4, fail: bool = False) -> None:
        self.speed, self.fail, self.observations = speed, fail, []

    def infer(self, observation: dict) -> dict:
        if self.fail:
            raise RuntimeError("fake policy exploded")
        self.observations.append(observation)
        actions = np.zeros((10, 8), dtype=np.float32)
        actions[:, 0] = self.speed
        return {"actions": actions}


class FakeRobot(Node):
    """A fake robot interface: the arm follows trajectories point by point, the gripper jumps to its goal."""

    def __init__(self, context: Context, ns: str) -> None:
        super().__init__(unique("fake_robot"), namespace=ns, context=context)
        self.q, self.width, self.cancels, self.progress = HOME.copy(), 0.08, 0, 0.0
        self.lag = 0.0  # s a trajectory's result waits after its last point (a slow controller)
        self.states = self.create_publisher(JointState, "joint_states", 10)
        self.cameras = [
            self.create_publisher(Image, f"{c}_camera/color/image_raw", 2) for c in ("scene", "wrist")
        ]
        self.create_timer(0.02, self._publish)
        accept = {"cancel_callback": lambda _: CancelResponse.ACCEPT}
        ActionServer(
            self, FollowJointTrajectory, "arm_controller/follow_joint_trajectory", self._follow, **accept
        )
        ActionServer(self, GripperCommand, "gripper_controller/gripper_cmd", self._grip, **accept)
        self.create_service(GetTaskProgress, "get_task_progress", self._progress)

    def _publish(self) -> None:
        state = JointState(name=JOINTS + FINGERS, position=[*self.q, self.width / 2, self.width / 2])
        state.header.stamp = self.get_clock().now().to_msg()
        self.states.publish(state)
        image = Image(height=48, width=64, encoding="rgb8", step=64 * 3, data=bytes(48 * 64 * 3))
        for publisher in self.cameras:
            publisher.publish(image)

    def _follow(self, handle) -> FollowJointTrajectory.Result:
        started = time.monotonic()
        for point in handle.request.trajectory.points:
            due = started + point.time_from_start.sec + point.time_from_start.nanosec * 1e-9
            while time.monotonic() < due:
                if handle.is_cancel_requested:
                    self.cancels += 1
                    handle.canceled()
                    return FollowJointTrajectory.Result(error_string="canceled; the arm holds")
                time.sleep(0.005)
            self.q = np.array(point.positions)
        settled = time.monotonic() + self.lag
        while time.monotonic() < settled:
            if handle.is_cancel_requested:
                self.cancels += 1
                handle.canceled()
                return FollowJointTrajectory.Result(error_string="canceled; the arm holds")
            time.sleep(0.005)
        handle.succeed()
        return FollowJointTrajectory.Result()

    def _grip(self, handle) -> GripperCommand.Result:
        self.width = 2 * handle.request.command.position
        handle.succeed()
        return GripperCommand.Result(position=handle.request.command.position, reached_goal=True)

    def _progress(self, _request, response: GetTaskProgress.Response) -> GetTaskProgress.Response:
        response.success, response.task, response.progress = True, "fake", float(self.progress)
        return response


@dataclass
class Graph:
    robot: FakeRobot
    client: ThreadSafeActionClient


@pytest.fixture(scope="module")
def graph() -> Iterator[Graph]:
    ns = "/" + unique("vla")
    context = Context()
    rclpy.init(context=context)
    executor = InlineSubscriptionExecutor(num_threads=8, context=context)  # run_node's executor
    overrides = [
        Parameter("robot", value="franka"),
        Parameter("monitor", value="progress"),
        Parameter("monitor_period", value=0.1),
        Parameter("replan_steps", value=4),
        Parameter("control_rate", value=50.0),
        Parameter("no_progress_window", value=0.6),
        Parameter("connect_timeout", value=2.0),
        Parameter("infer_timeout", value=2.0),
    ]
    bridge = VlaBridgeNode(namespace=ns, context=context, parameter_overrides=overrides)
    robot = FakeRobot(context, ns)
    client_node = Node(unique("vla_client"), context=context)
    client = ThreadSafeActionClient(client_node, RunPolicy, f"{ns}/run_policy")
    for node in (bridge, robot, client_node):
        executor.add_node(node)
    spinner = BackgroundSpinner(executor).start()
    try:
        yield Graph(robot, client)
    finally:
        bridge.close()
        time.sleep(0.2)
        spinner.stop()
        for node in (bridge, robot, client_node):
            destroy_node(node)
        close_context(context)


def run(graph: Graph, url: str, timeout: float = 5.0, feedback: list | None = None, **fields):
    graph.robot.q, graph.robot.progress = HOME.copy(), 0.0
    goal = RunPolicy.Goal(instruction="push the cube", policy=url, timeout=timeout, **fields)
    return send_goal(graph.client, goal, feedback)


def test_runs_until_the_task_progress_says_done(graph: Graph) -> None:
    policy, feedback = FakePolicy(), []
    with PolicyServer(policy, port=0) as server:
        handle = run(graph, server.url, feedback=feedback)
        assert wait_for(lambda: graph.robot.q[0] > HOME[0] + 0.05, 5.0), "the arm never moved"
        graph.robot.progress = 100.0
        status, result = goal_outcome(handle, 10.0)
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success, result.message
    assert result.stop_reason == "DONE" and "progress 100" in result.verdict
    assert result.steps >= 4 and result.chunks >= 1 and result.mean_chunk_latency > 0
    observation = policy.observations[0]
    assert observation["observation/exterior_image_1_left"].shape == (224, 224, 3)
    assert (
        observation["observation/joint_position"].shape == (7,) and observation["prompt"] == "push the cube"
    )
    assert feedback and max(f.feedback.step for f in feedback) >= 4
    assert any(f.feedback.server_infer_ms >= 0 and f.feedback.chunk_latency > 0 for f in feedback)


def test_a_run_the_monitor_never_ends_times_out(graph: Graph) -> None:
    with PolicyServer(FakePolicy(), port=0) as server:
        status, result = goal_outcome(run(graph, server.url, timeout=0.5), 10.0)
    assert status == GoalStatus.STATUS_ABORTED and result.stop_reason == "TIMEOUT"
    assert result.error_code == ErrorCode.TIMEOUT and "0.5 s" in result.message


def test_an_idle_policy_stops_for_no_progress(graph: Graph) -> None:
    with PolicyServer(FakePolicy(speed=0.0), port=0) as server:
        status, result = goal_outcome(run(graph, server.url), 10.0)
        assert status == GoalStatus.STATUS_ABORTED, result.message
    assert result.stop_reason == "NO_PROGRESS" and result.error_code == ErrorCode.STALLED, result.message


def test_cancel_stops_the_arm(graph: Graph) -> None:
    graph.robot.lag = 1.0  # the cancel comes while a trajectory runs
    try:
        with PolicyServer(FakePolicy(speed=0.1), port=0) as server:
            feedback: list = []
            handle = run(graph, server.url, feedback=feedback)
            assert wait_for(lambda: len(feedback) >= 4, 5.0)
            cancels = graph.robot.cancels
            handle.cancel_goal_async()
            status, result = goal_outcome(handle, 10.0)
    finally:
        graph.robot.lag = 0.0
    assert status == GoalStatus.STATUS_CANCELED and result.stop_reason == "CANCELED"
    assert result.error_code == ErrorCode.CANCELED and graph.robot.cancels == cancels + 1


def test_a_refused_server_is_named(graph: Graph) -> None:
    with PolicyServer(FakePolicy(), port=0) as server:
        url = server.url  # nothing listens there once the server stopped
    status, result = goal_outcome(run(graph, url), 10.0)
    assert status == GoalStatus.STATUS_ABORTED, result.message
    assert result.stop_reason == "SERVER_GONE" and url in result.message, result.message
    assert result.error_code == ErrorCode.BACKEND_ERROR


def test_a_server_gone_mid_run_is_named(graph: Graph) -> None:
    server = PolicyServer(FakePolicy(speed=0.1), port=0).start()
    feedback: list = []
    handle = run(graph, server.url, feedback=feedback)
    assert wait_for(lambda: len(feedback) >= 2, 5.0)
    url = server.url
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    status, result = goal_outcome(handle, 10.0)
    assert status == GoalStatus.STATUS_ABORTED, result.message
    stopper.join(5.0)
    assert result.stop_reason == "SERVER_GONE" and url in result.message, result.message


def test_the_servers_error_reaches_the_result(graph: Graph) -> None:
    with PolicyServer(FakePolicy(fail=True), port=0) as server:
        status, result = goal_outcome(run(graph, server.url), 10.0)
        assert status == GoalStatus.STATUS_ABORTED, result.message
    assert result.stop_reason == "ERROR" and "fake policy exploded" in result.message, result.message


def test_a_bad_until_is_refused_with_the_choices(graph: Graph) -> None:
    status, result = goal_outcome(run(graph, "ws://127.0.0.1:9", until="whenever"), 10.0)
    assert status == GoalStatus.STATUS_ABORTED, result.message
    assert result.error_code == ErrorCode.INVALID_ARGUMENT and "detect: <label>" in result.message
