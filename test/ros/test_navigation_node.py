"""The navigation node against the Go2-W sim node, each in its own process: bad goals are refused with a
clear message and the node keeps serving; a goal past the white table is reached within tolerance (the
sim's odometry says so); a newer goal preempts a running one and cancel stops the base; a goal on the
table is unreachable, with a message that says why."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from action_msgs.msg import GoalStatus
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import OccupancyGrid, Odometry
from rclpy.node import Node

from maestro_msgs.action import NavigateBase
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.errors import ErrorCode
from maestro_tools.common.qos import LATCHED_QOS, STATE_QOS
from maestro_tools.navigation.navigator import NavState
from test.ros.helpers import (
    goal_outcome,
    goal_result,
    ros_graph,
    send_goal,
    spawn_node,
    stop,
    unique,
    wait_for,
)

RTF = 2.0  # sim seconds per wall second


def _goal(x: float, y: float, yaw: float = 0.0, frame: str = "map", **fields: float) -> NavigateBase.Goal:
    pose = PoseStamped()
    pose.header.frame_id = frame
    pose.pose.position.x, pose.pose.position.y = x, y
    pose.pose.orientation.z, pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    return NavigateBase.Goal(goal=pose, **fields)


class Client:
    def __init__(self, node: Node, ns: str) -> None:
        self.odom: list[Odometry] = []
        self.commands: list[Twist] = []
        node.create_subscription(Odometry, f"{ns}/odom", self.odom.append, STATE_QOS)
        node.create_subscription(Twist, f"{ns}/cmd_vel", self.commands.append, STATE_QOS)
        self.grids: list[OccupancyGrid] = []
        node.create_subscription(OccupancyGrid, f"{ns}/navigation/grid", self.grids.append, LATCHED_QOS)
        self.navigate = ThreadSafeActionClient(node, NavigateBase, f"{ns}/navigate")

    def pose(self) -> tuple[float, float, float]:
        pose = self.odom[-1].pose.pose
        q = pose.orientation
        return pose.position.x, pose.position.y, 2 * math.atan2(q.z, q.w)

    def speed(self) -> float:
        twist = self.odom[-1].twist.twist
        return abs(twist.linear.x) + abs(twist.angular.z)


@pytest.fixture(scope="module")
def nav() -> Iterator[Client]:
    ns = "/" + unique("nav")
    sim = spawn_node(
        "maestro_tools.sim.mobile.node",
        ns,
        image_width=160,
        image_height=120,
        camera_rate=5.0,
        joint_state_rate=20.0,
        real_time_factor=RTF,
    )
    node = spawn_node("maestro_tools.navigation.node", ns, robot="go2w_piper", use_sim_time=True)
    try:
        with ros_graph(lambda c: Node(unique("nav_client"), context=c)) as (client_node,):
            client = Client(client_node, ns)
            assert wait_for(lambda: len(client.odom) > 3, 60), "no odom from the go2w sim node"
            assert client.navigate.wait_for_server(timeout_sec=60), "no navigate action server"
            yield client
    finally:
        outputs = stop(node), stop(sim)
        for output in outputs:
            assert "Traceback" not in output, output


def test_bad_goals_are_refused_with_a_clear_message(nav: Client) -> None:
    result = goal_result(send_goal(nav.navigate, _goal(float("nan"), 0.0)), 30)
    assert not result.success and result.error_code == ErrorCode.INVALID_ARGUMENT, result.message
    assert "goal.pose.position.x is nan" in result.message
    result = goal_result(send_goal(nav.navigate, _goal(1.0, 0.0, frame="kitchen")), 30)
    assert not result.success and result.error_code == ErrorCode.NOT_FOUND, result.message
    assert "kitchen" in result.message and "base_link" in result.message  # names the frames TF has
    result = goal_result(send_goal(nav.navigate, _goal(1.0, 0.0, timeout=-1.0)), 30)
    assert result.error_code == ErrorCode.INVALID_ARGUMENT and "timeout" in result.message
    result = goal_result(send_goal(nav.navigate, _goal(1.0, 0.0, max_speed=0.05)), 30)
    assert result.error_code == ErrorCode.INVALID_ARGUMENT and "max_speed = 0.05" in result.message
    assert nav.speed() < 0.05


def test_drives_past_the_table_to_a_goal(nav: Client) -> None:
    start = nav.pose()
    feedback: list = []
    # From (1.9, 0.6) facing +x: the straight line brushes the white table (its near edge at y = 0.95
    # and the footprint radius 0.45 m), so the path bends south of it.
    goal = (4.0, 0.1, -0.5)
    # In odom, looked up in TF (the sim's map -> odom is the identity).
    request = _goal(*goal, frame="odom", timeout=60.0, position_tolerance=0.1)
    handle = send_goal(nav.navigate, request, feedback)
    result = goal_result(handle, 120)
    assert result.success, result.message
    assert math.dist(start[:2], goal[:2]) > 2.0
    x, y, yaw = nav.pose()
    # Within the tolerance (twice it only after three re-approaches: node.py explains).
    assert math.dist((x, y), goal[:2]) < 0.2, (x, y)
    assert abs(math.remainder(yaw - goal[2], math.tau)) < 0.2, yaw
    assert result.position_error < 0.2 and result.final_pose.position.x == pytest.approx(x, abs=0.05)
    assert 0 < result.navigation_time < 60
    remaining = [f.feedback.distance_remaining for f in feedback]
    assert max(remaining) > 2.0 and min(remaining) < 0.3, remaining
    assert {f.feedback.state for f in feedback} >= {NavigateBase.Feedback.DRIVING}
    assert max(y for y in (f.feedback.current_pose.position.y for f in feedback)) < 0.62  # kept off the table
    grid = nav.grids[-1]  # the head camera's depth put the table's near edge into the grid
    cells = np.array(grid.data).reshape(grid.info.height, grid.info.width)
    iy, ix = np.nonzero(cells == 100)
    x = grid.info.origin.position.x + (ix + 0.5) * grid.info.resolution
    y = grid.info.origin.position.y + (iy + 0.5) * grid.info.resolution
    assert np.any((x > 1.9) & (x < 3.3) & (y > 0.85) & (y < 1.75)), list(zip(x, y, strict=True))


def test_a_newer_goal_preempts_and_cancel_stops_the_base(nav: Client) -> None:
    first = send_goal(nav.navigate, _goal(1.8, 0.2, math.pi))
    assert wait_for(lambda: nav.speed() > 0.2, 60), "the base did not start moving"  # wall time, under load
    far = (-0.3, -0.3)  # 2 m or more from wherever the last goals left the base
    second = send_goal(nav.navigate, _goal(*far, math.pi))
    status, result = goal_outcome(first, 20)
    assert status == GoalStatus.STATUS_ABORTED and result.error_code == ErrorCode.PREEMPTED, result.message
    assert wait_for(lambda: abs(nav.odom[-1].twist.twist.linear.x) > 0.15, 60), (
        "the second goal did not drive"
    )
    cancel = second.cancel_goal_async()
    assert wait_for(cancel.done, 10)
    status, result = goal_outcome(second, 20)
    assert status == GoalStatus.STATUS_CANCELED and result.error_code == ErrorCode.CANCELED, result.message
    last = nav.commands[-1]
    assert last.linear.x == 0.0 and last.angular.z == 0.0  # the node's last word is a stop
    assert wait_for(lambda: nav.speed() < 0.03, 10 / RTF + 5), nav.odom[-1].twist.twist
    assert math.dist(nav.pose()[:2], far) > 0.8  # stopped on the way, well before the goal


def test_feedback_states_mirror_the_action_constants() -> None:
    for state in NavState:
        assert getattr(NavigateBase.Feedback, state.name) == state.value


def test_a_goal_on_the_table_is_unreachable_and_says_why(nav: Client) -> None:
    # Under the table top, 0.3 m in from its near edge (the first drive put part of it into the grid). Last:
    # the head camera, near, sees only under the top, so the base may drive some way under it first (and
    # recover from where the last test stopped it: 29 s with 2 recoveries seen in CI); it must give up before
    # its timeout, which would end it as TIMEOUT. Since the sim's tip guard (the body leaning against the
    # table's edge stops the wheels pushing), the base may stall under the edge before the grid shows the
    # goal inside the table: STALLED after its recoveries (54 s seen), a regression of the message only.
    result = goal_result(send_goal(nav.navigate, _goal(2.6, 1.25, timeout=75.0)), 100)
    stopped = (ErrorCode.UNREACHABLE, ErrorCode.STALLED)
    assert not result.success and result.error_code in stopped, result.message
    if result.error_code == ErrorCode.UNREACHABLE:
        assert "the goal (2.6" in result.message
        assert "closer than the robot's footprint allows" in result.message
    assert result.navigation_time < 75.0
    assert wait_for(lambda: nav.speed() < 0.03, 10), nav.odom[-1].twist.twist
