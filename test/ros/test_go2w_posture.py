"""The Go2-W sim node's body posture over ROS, in its own process: ``body_controller/follow_joint_trajectory``
(control_msgs FollowJointTrajectory on the virtual joints ``body_height`` and ``body_pitch``) crouches and
pitches the body, joint_states and TF odom -> base_link show it, an out-of-range goal is refused with the
valid range, and the node keeps serving (the body stands up again, the arm still takes goals)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from builtin_interfaces.msg import Duration
from control_msgs.action import FollowJointTrajectory
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.qos import STATE_QOS
from maestro_tools.common.tf import TfListener
from test.ros.helpers import goal_result, ros_graph, send_goal, spawn_node, stop, unique, wait_for

BODY = ["body_height", "body_pitch"]
OK = FollowJointTrajectory.Result.SUCCESSFUL


class Client:
    def __init__(self, node: Node, ns: str) -> None:
        self.joints: list[JointState] = []
        node.create_subscription(JointState, f"{ns}/joint_states", self.joints.append, STATE_QOS)
        self.tf = TfListener(node, ReentrantCallbackGroup())
        self.body = ThreadSafeActionClient(
            node, FollowJointTrajectory, f"{ns}/body_controller/follow_joint_trajectory"
        )
        self.arm = ThreadSafeActionClient(
            node, FollowJointTrajectory, f"{ns}/arm_controller/follow_joint_trajectory"
        )

    def position(self, name: str) -> float:
        latest = self.joints[-1]
        return latest.position[latest.name.index(name)]

    def base(self) -> tuple[float, float]:
        """The base's height above the floor (m) and pitch (rad, nose down) from TF odom -> base_link."""
        pose = self.tf.lookup("odom", "base_link", timeout=10.0)
        return float(pose[2, 3]), math.asin(float(-pose[2, 0]))


def _goal(names: list[str], positions: list[float], seconds: float) -> FollowJointTrajectory.Goal:
    point = JointTrajectoryPoint(
        positions=positions, time_from_start=Duration(sec=int(seconds), nanosec=int(seconds % 1 * 1e9))
    )
    return FollowJointTrajectory.Goal(trajectory=JointTrajectory(joint_names=names, points=[point]))


@pytest.fixture(scope="module")
def sim() -> Iterator[Client]:
    ns = "/" + unique("go2w_posture")
    process = spawn_node("maestro_tools.sim.mobile.node", ns, image_width=64, image_height=48)
    try:
        with ros_graph(lambda c: Node(unique("posture_client"), context=c)) as (node,):
            client = Client(node, ns)
            assert wait_for(lambda: len(client.joints) > 3, 60), "no joint_states from the go2w sim node"
            yield client
    finally:
        output = stop(process)
        assert "Traceback" not in output, output


def test_the_body_crouches_pitches_and_refuses_out_of_range(sim: Client) -> None:
    assert set(BODY) <= set(sim.joints[-1].name)
    stand_z, stand_pitch = sim.base()
    assert abs(sim.position("body_height")) < 0.01 and abs(stand_pitch) < 0.01
    result = goal_result(send_goal(sim.body, _goal(BODY, [-0.15, 0.25], 1.0)))
    assert result.error_code == OK, result.error_string
    assert wait_for(lambda: abs(sim.position("body_height") + 0.15) < 0.01, 10), sim.position("body_height")
    assert sim.position("body_pitch") == pytest.approx(0.25, abs=0.02)
    assert wait_for(lambda: abs(sim.base()[0] - (stand_z - 0.15)) < 0.01, 10), sim.base()  # TF shows it
    assert sim.base()[1] == pytest.approx(0.25, abs=0.02)
    calf = sim.position("FL_calf_joint")
    assert calf < -1.5  # the legs bent (the stand's calf is -1.30)

    too_low = goal_result(send_goal(sim.body, _goal(["body_height"], [-0.4], 1.0)))
    assert too_low.error_code == FollowJointTrajectory.Result.INVALID_GOAL
    assert "body_height = -0.400 m is out of range; valid: -0.180 .. 0 m" in too_low.error_string
    unknown = goal_result(send_goal(sim.body, _goal(["body_roll"], [0.1], 1.0)))
    assert unknown.error_code == FollowJointTrajectory.Result.INVALID_JOINTS
    assert "body_height, body_pitch" in unknown.error_string
    assert sim.position("body_height") == pytest.approx(-0.15, abs=0.01)  # the refusals moved nothing

    # Still serving: the body stands up again and the arm takes a goal.
    result = goal_result(send_goal(sim.body, _goal(BODY, [0.0, 0.0], 1.0)))
    assert result.error_code == OK, result.error_string
    assert wait_for(lambda: abs(sim.base()[0] - stand_z) < 0.01, 10), sim.base()
    arm = goal_result(send_goal(sim.arm, _goal(["piper_joint1"], [0.3], 1.0)))
    assert arm.error_code == OK, arm.error_string
    np.testing.assert_allclose(sim.base()[1], 0.0, atol=0.02)
