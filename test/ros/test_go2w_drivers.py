"""The real-robot drivers against the simulated vendor protocols, each in its own process: go2w_sim_node with
``vendor_protocols`` on (Unitree sport DDS on loopback in its own domain; the PiPER's CAN frames over
socketcand on 127.0.0.1), and go2w_driver + piper_driver in another namespace, so nothing reaches the sim's
own ROS base and arm interfaces. A FollowJointTrajectory goal through piper_driver moves the simulated arm
and joint_states reports it; the gripper closes; a body goal through go2w_driver pitches the simulated body
(SportClient.Euler); cmd_vel through the driver drives the simulated base and odometry comes back; the
driver's watchdog stops it (the sim's own Move timeout is set far longer). The arm goes first, with the
base where the scene put it.

The drivers check their goals in wall time, as on the robot; under load the sim runs slower than the
wall clock, so their settle timeouts are set long here. A failing test shows the processes' last output."""

from __future__ import annotations

import math
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from builtin_interfaces.msg import Duration
from control_msgs.action import FollowJointTrajectory, GripperCommand
from control_msgs.msg import GripperCommand as GripperGoal
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import JointState
from tf2_msgs.msg import TFMessage
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.qos import STATE_QOS
from test.ros.helpers import (
    FollowedOutput,
    goal_outcome,
    ros_graph,
    send_goal,
    spawn_node,
    unique,
    wait_for,
)

pytest.importorskip("unitree_sdk2py")
pytest.importorskip("piper_sdk")

SIM_WATCHDOG = 5.0  # s: the sim's own Move timeout, far longer than the driver's
DRIVER_WATCHDOG = 0.3  # s
SETTLE = 30.0  # s (wall) the drivers allow after a goal's time: the sim may run slower than the wall clock
ARM = [f"piper_joint{i}" for i in range(1, 7)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _unitree_domain() -> int:
    """A DDS domain for the Unitree side apart from the ROS graph's (both in this project's test range)."""
    ros = int(os.environ.get("ROS_DOMAIN_ID", "0"))
    return 159 if ros != 159 else 158


@dataclass
class Graph:
    node: Node
    sim_ns: str
    driver_ns: str
    truth: list[Odometry] = field(default_factory=list)  # the sim's own odom (ground truth)
    odom: list[Odometry] = field(default_factory=list)  # the driver's, from rt/sportmodestate
    tf: list[TFMessage] = field(default_factory=list)
    joints: list[JointState] = field(default_factory=list)  # piper_driver's, from CAN feedback

    def __post_init__(self) -> None:
        node, sim, drv = self.node, self.sim_ns, self.driver_ns
        node.create_subscription(Odometry, f"{sim}/odom", self.truth.append, STATE_QOS)
        node.create_subscription(Odometry, f"{drv}/odom", self.odom.append, STATE_QOS)
        node.create_subscription(JointState, f"{drv}/joint_states", self.joints.append, STATE_QOS)
        node.create_subscription(TFMessage, "/tf", self._on_tf, 100)
        self.cmd_vel = node.create_publisher(Twist, f"{drv}/cmd_vel", STATE_QOS)
        self.trajectory = ThreadSafeActionClient(
            node, FollowJointTrajectory, f"{drv}/arm_controller/follow_joint_trajectory"
        )
        self.gripper = ThreadSafeActionClient(node, GripperCommand, f"{drv}/gripper_controller/gripper_cmd")

    def _on_tf(self, message: TFMessage) -> None:
        if any(t.header.frame_id == "odom" and t.child_frame_id == "base_link" for t in message.transforms):
            self.tf.append(message)

    def position(self, name: str) -> float:
        latest = self.joints[-1]
        return latest.position[latest.name.index(name)]


@pytest.fixture(scope="module")
def processes() -> Iterator[list[FollowedOutput]]:
    followed: list[FollowedOutput] = []
    yield followed
    outputs = [p.stop() for p in reversed(followed)]
    for output in outputs:
        assert "Traceback" not in output, output


@pytest.fixture(autouse=True)
def _show_the_processes_output(processes: list[FollowedOutput]) -> Iterator[None]:
    yield
    for process in processes:  # shown by pytest only when the test failed
        print(f"--- {' '.join(process.process.args[2:5])} (last lines) ---\n{process.tail()}")


@pytest.fixture(scope="module")
def graph(processes: list[FollowedOutput]) -> Iterator[Graph]:
    sim_ns, driver_ns = "/" + unique("go2w_sim"), "/" + unique("go2w_real")
    domain, port = _unitree_domain(), _free_port()

    def start(module: str, namespace: str, **parameters: object) -> None:
        processes.append(FollowedOutput(spawn_node(module, namespace, **parameters)))

    start(
        "maestro_tools.sim.mobile.node",
        sim_ns,
        camera_rate=0.0,
        image_width=64,
        image_height=48,
        cmd_vel_timeout=SIM_WATCHDOG,
        vendor_protocols=True,
        unitree_dds_domain=domain,
        piper_can_port=port,
    )
    with ros_graph(lambda c: Node(unique("drivers_client"), context=c)) as (node,):
        graph = Graph(node, sim_ns, driver_ns)
        assert wait_for(lambda: len(graph.truth) > 3, 60), "no odom from the sim node"
        start(
            "maestro_tools.drivers.go2w_driver",
            driver_ns,
            network_interface="lo",
            dds_domain=domain,
            cmd_vel_timeout=DRIVER_WATCHDOG,
            settle_timeout=SETTLE,
        )
        start(
            "maestro_tools.drivers.piper_driver",
            driver_ns,
            can_interface="socketcand",
            can_channel="can0",
            can_host="127.0.0.1",
            can_port=port,
            settle_timeout=SETTLE,
        )
        assert wait_for(lambda: len(graph.odom) > 3, 60), "no odom from go2w_driver (rt/sportmodestate)"
        yield graph


def _stamp(message: Odometry) -> float:
    return message.header.stamp.sec + message.header.stamp.nanosec * 1e-9


def _drive(graph: Graph, linear: float, angular: float, sim_seconds: float) -> float:
    """Publish cmd_vel to the driver at 20 Hz (wall) for ``sim_seconds`` of the sim's time (load slows the
    sim); return the fastest forward speed the sim's ground truth showed meanwhile. 20 Hz, not 10: under
    load a late message past the driver's 0.3 s watchdog stops the base, and the ramp starts over."""
    message, done = Twist(), threading.Event()
    message.linear.x, message.angular.z = linear, angular
    first, end = len(graph.truth), _stamp(graph.truth[-1]) + sim_seconds
    while not done.wait(0.05):
        graph.cmd_vel.publish(message)
        if _stamp(graph.truth[-1]) >= end:
            done.set()
    return max(m.twist.twist.linear.x for m in graph.truth[first:])


def _goal(positions: list[float], seconds: float) -> FollowJointTrajectory.Goal:
    middle = JointTrajectoryPoint(positions=[p / 2 for p in positions], time_from_start=Duration(sec=1))
    end = JointTrajectoryPoint(
        positions=positions, time_from_start=Duration(sec=int(seconds), nanosec=int(seconds % 1 * 1e9))
    )
    return FollowJointTrajectory.Goal(trajectory=JointTrajectory(joint_names=ARM, points=[middle, end]))


def test_a_trajectory_through_piper_driver_moves_the_arm(graph: Graph) -> None:
    assert wait_for(lambda: len(graph.joints) > 3, 30), "no joint_states from piper_driver"
    target = [0.3, 0.6, -0.5, 0.0, 0.3, 0.2]
    _, result = goal_outcome(send_goal(graph.trajectory, _goal(target, 2.0)), 30)
    assert result.error_code == FollowJointTrajectory.Result.SUCCESSFUL, result.error_string

    def there() -> bool:  # under load joint_states may lag the result
        return all(abs(graph.position(n) - v) < 0.03 for n, v in zip(ARM, target, strict=True))

    assert wait_for(there, 10), [round(graph.position(n), 3) for n in ARM]
    bad = FollowJointTrajectory.Goal(
        trajectory=JointTrajectory(
            joint_names=["elbow"],
            points=[JointTrajectoryPoint(positions=[0.1], time_from_start=Duration(sec=1))],
        )
    )
    _, refused = goal_outcome(send_goal(graph.trajectory, bad), 10)
    assert refused.error_code == FollowJointTrajectory.Result.INVALID_JOINTS
    assert "piper_joint1" in refused.error_string


def test_the_gripper_closes_through_piper_driver(graph: Graph) -> None:
    assert wait_for(lambda: len(graph.joints) > 3, 30)

    def width() -> float:
        return graph.position("piper_joint7") + graph.position("piper_joint8")

    _, result = goal_outcome(
        send_goal(graph.gripper, GripperCommand.Goal(command=GripperGoal(position=0.01))), 20
    )
    assert result.reached_goal, (result.position, width())
    assert wait_for(lambda: abs(width() - 0.02) < 0.004, 10), width()


def _pitch(message: Odometry) -> float:
    q = message.pose.pose.orientation
    return math.asin(max(-1.0, min(1.0, 2 * (q.w * q.y - q.z * q.x))))


def _body_goal(names: list[str], positions: list[float]) -> FollowJointTrajectory.Goal:
    point = JointTrajectoryPoint(positions=positions, time_from_start=Duration(sec=1))
    return FollowJointTrajectory.Goal(trajectory=JointTrajectory(joint_names=names, points=[point]))


def test_the_body_pitches_through_go2w_driver(graph: Graph) -> None:
    """body_controller/follow_joint_trajectory -> SportClient.Euler -> the sim's legs; no BodyHeight in the
    SDK, so a height goal is refused naming why."""
    body = ThreadSafeActionClient(
        graph.node, FollowJointTrajectory, f"{graph.driver_ns}/body_controller/follow_joint_trajectory"
    )
    _, result = goal_outcome(send_goal(body, _body_goal(["body_pitch"], [0.15])), 30)
    assert result.error_code == FollowJointTrajectory.Result.SUCCESSFUL, result.error_string
    assert wait_for(lambda: abs(_pitch(graph.truth[-1]) - 0.15) < 0.03, 10), _pitch(graph.truth[-1])
    _, refused = goal_outcome(send_goal(body, _body_goal(["body_height"], [-0.1])), 10)
    assert refused.error_code == FollowJointTrajectory.Result.INVALID_GOAL
    assert "no BodyHeight" in refused.error_string
    _, result = goal_outcome(send_goal(body, _body_goal(["body_pitch"], [0.0])), 30)
    assert result.error_code == FollowJointTrajectory.Result.SUCCESSFUL, result.error_string
    assert abs(_pitch(graph.truth[-1])) < 0.03


def test_cmd_vel_through_the_driver_drives_the_sim_and_odometry_comes_back(graph: Graph) -> None:
    start, start_truth = graph.odom[-1].pose.pose.position, graph.truth[-1].pose.pose.position
    assert start.x == pytest.approx(start_truth.x, abs=0.02)
    first_odom = len(graph.odom)
    fastest = _drive(graph, 2.0, 0.0, 2.0)  # beyond the profile's 1 m/s: the driver clamps it
    assert 0.85 < fastest < 1.1, fastest  # reached the limit (1 m/s^2 ramp), not 2 m/s
    assert graph.truth[-1].pose.pose.position.x - start_truth.x > 0.6  # the sim's base moved (ground truth)
    # The driver's odometry saw the same speed; once stopped (its watchdog), it agrees with the truth (while
    # moving, the latest of each differ by the two hops' delay).
    assert max(m.twist.twist.linear.x for m in graph.odom[first_odom:]) == pytest.approx(fastest, abs=0.15)

    def agree() -> bool:
        moved, truth = graph.odom[-1].pose.pose.position, graph.truth[-1].pose.pose.position
        return abs(moved.x - truth.x) < 0.1 and abs(moved.y - truth.y) < 0.1

    assert wait_for(agree, 20), (graph.odom[-1].pose.pose.position, graph.truth[-1].pose.pose.position)
    moved = graph.odom[-1]
    assert moved.header.frame_id == "odom" and moved.child_frame_id == "base_link"
    assert graph.tf, "no odom -> base_link on /tf from the driver"


def test_the_driver_watchdog_stops_the_base(graph: Graph) -> None:
    assert _drive(graph, 0.5, 0.0, 1.0) > 0.3
    # No more commands: the driver's watchdog (0.3 s) sends StopMove long before the sim's own 5 s timeout.
    stopped_at = _stamp(graph.truth[-1])

    def still() -> bool:  # within the sim's own timeout: the driver stopped it
        truth = graph.truth[-1]
        return _stamp(truth) < stopped_at + SIM_WATCHDOG - 1.0 and abs(truth.twist.twist.linear.x) < 0.02

    assert wait_for(still, 20), (_stamp(graph.truth[-1]) - stopped_at, graph.truth[-1].twist.twist.linear)
    assert wait_for(lambda: abs(graph.odom[-1].twist.twist.linear.x) < 0.05, 10)
