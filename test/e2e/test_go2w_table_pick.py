"""End to end without a VLM: the Go2-W + PiPER picks the green plush ball from the white table with the
agent's tools over ROS.

The whole go2w_piper bringup runs under `maestro launch go2w_piper` (sim, detector, grasp planner,
motion, ... as separate processes). The test places the base beside the table as navigation would: it
picks a base pose with whole-body reach (``WholeBodyReach``, the table as a keep-out box, the ball's
nominal place in the house) and drives there on cmd_vel against odometry. Then only the tools act, as a
user's program calls them: ``perception.look`` (the wrist camera raised to the profile's look pose; the
head camera cannot see a table top), ``grasping.pick`` (tilted grasps from the planner, the wrist yaw the
PiPER can reach). The sim's progress service says whether the ball was grasped and lifted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node

from maestro_msgs.srv import GetTaskProgress
from maestro_tools.common.qos import STATE_QOS
from maestro_tools.common.surfaces import SupportSurface
from maestro_tools.motion.base_geometry import BasePose
from maestro_tools.motion.whole_body import ReachTarget, WholeBodyReach
from maestro_tools.robots import get_robot
from maestro_tools.sim.mobile.house import TABLE_CENTER, TABLE_HALF, TABLE_HEIGHT, TABLE_TOYS
from test.e2e.launched import launched
from test.polling import wait_for
from test.ros.helpers import call, ros_graph, unique

NS = "/maestro"
TARGET = "green plush ball"
TILT = math.radians(45.0)  # the reach the base pose is chosen for


class Driver:
    """Drives the base on cmd_vel to a pose in odom: turn to face it, roll there, turn to the heading."""

    def __init__(self, node: Node) -> None:
        self.node, self.pose = node, None
        self.cmd = node.create_publisher(Twist, f"{NS}/cmd_vel", STATE_QOS)
        node.create_subscription(Odometry, f"{NS}/odom", self._on_odom, STATE_QOS)
        self.progress = node.create_client(GetTaskProgress, f"{NS}/get_task_progress")

    def _on_odom(self, message: Odometry) -> None:
        p, q = message.pose.pose.position, message.pose.pose.orientation
        self.pose = (p.x, p.y, math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y**2 + q.z**2)))

    def _send(self, linear: float, angular: float) -> None:
        twist = Twist()
        twist.linear.x, twist.angular.z = linear, angular
        self.cmd.publish(twist)

    def _turn(self, yaw: float, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            error = math.remainder(yaw - self.pose[2], 2 * math.pi)
            if abs(error) < 0.015:
                break
            self._send(0.0, max(-0.6, min(0.6, 2.0 * error)))
            time.sleep(0.05)
        self._send(0.0, 0.0)

    def go(self, x: float, y: float, yaw: float, timeout: float = 60.0) -> tuple[float, float, float]:
        assert wait_for(lambda: self.pose is not None, 30), "no odometry from the sim"
        x0, y0, _ = self.pose
        if math.hypot(x - x0, y - y0) > 0.02:
            self._turn(math.atan2(y - y0, x - x0), timeout / 3)
            deadline = time.monotonic() + timeout / 3
            while time.monotonic() < deadline:
                px, py, pyaw = self.pose
                ahead = (x - px) * math.cos(pyaw) + (y - py) * math.sin(pyaw)
                if ahead < 0.01:
                    break
                bearing = math.remainder(math.atan2(y - py, x - px) - pyaw, 2 * math.pi)
                self._send(min(0.3, 1.5 * ahead), 1.5 * bearing if ahead > 0.1 else 0.0)
                time.sleep(0.05)
            self._send(0.0, 0.0)
        self._turn(yaw, timeout / 3)
        time.sleep(0.5)
        return self.pose

    def stages(self) -> dict[str, bool]:
        reply = call(self.progress, GetTaskProgress.Request(), 30.0)
        assert reply.success, reply.message
        return {stage.name: stage.reached for stage in reply.stages}


def beside_the_table() -> BasePose:
    """A base pose from which the arm reaches the ball's nominal place 45 deg from vertical."""
    profile = get_robot("go2w_piper")
    (cx, cy), (hx, hy) = TABLE_CENTER, TABLE_HALF
    table = SupportSurface("white table", (cx, cy, TABLE_HEIGHT / 2), (hx, hy, TABLE_HEIGHT / 2))
    _, (dx, dy), radius, _ = next(toy for toy in TABLE_TOYS if toy[0] == TARGET)
    ball = (cx + dx, cy + dy, TABLE_HEIGHT + radius)
    start = BasePose(1.9, 0.6, 0.0)  # the house's start (ROBOT_START)
    heading = math.atan2(ball[1] - start.y, ball[0] - start.x)
    plan = WholeBodyReach(profile, [table]).plan_base_pose(ReachTarget.tilted(ball, heading, TILT), start)
    return plan.base


@pytest.fixture(scope="module")
def graph() -> Iterator[Driver]:
    with (
        launched("go2w_piper", "vlm:=scripted", "task:=trash_ball", "real_time_factor:=3.0"),
        ros_graph(lambda c: Node(unique("go2w_table_pick"), context=c)) as (node,),
    ):
        yield Driver(node)


@pytest.mark.timeout(240)
def test_the_tools_pick_the_ball_from_the_table(graph: Driver) -> None:
    from maestro_agent.proxy.session import make_host

    goal = beside_the_table()
    reached = graph.go(goal.x, goal.y, goal.yaw)
    # Turning in place on skid-steer wheels shifts the base a few cm; the tools perceive from where it is.
    assert math.hypot(reached[0] - goal.x, reached[1] - goal.y) < 0.1, (reached, goal)
    host, ros = make_host("go2w_piper")
    try:
        tools = host.tools
        seen = tools["perception"].look(TARGET)  # the head camera cannot see the table top
        assert seen[0].label == TARGET and seen[0].position[2] > 0.15, seen
        held = tools["grasping"].pick(TARGET, lift=0.12)
        assert held.holding, held
        stages = graph.stages()
        assert stages["toy grasped"] and stages["toy lifted"], stages
    finally:
        ros.close()
