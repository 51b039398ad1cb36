"""The motion node's floor from TF on the Go2-W (``floor_from_tf``), over ROS with the sim node: an arm goal
0.24 m above the floor in the stand is refused once the body crouches and pitches (the floor then lies
above it in base_link) and runs after the body stands again; the head camera's floor points are not
obstacles."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from builtin_interfaces.msg import Duration
from control_msgs.action import FollowJointTrajectory
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from maestro_msgs.action import MoveArm
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.errors import ErrorCode
from maestro_tools.motion.kinematics import ArmKinematics
from maestro_tools.robots.go2w_piper import GO2W_PIPER
from maestro_tools.robots.model import RobotModel
from test.ros.helpers import goal_result, ros_graph, send_goal, spawn_node, stop, unique


def _low_arm() -> list[float]:
    """Arm joints putting the TCP 0.45 m ahead of base_link and 0.2 m below it, pointing down."""
    model = RobotModel(GO2W_PIPER)
    target = np.eye(4)
    target[:3, :3], target[:3, 3] = np.diag([-1.0, 1.0, -1.0]), [0.45, 0.0, -0.2]
    return ArmKinematics(model).solve(target, model.home).q.tolist()


def _body(height: float, pitch: float) -> FollowJointTrajectory.Goal:
    point = JointTrajectoryPoint(positions=[height, pitch], time_from_start=Duration(sec=1))
    return FollowJointTrajectory.Goal(
        trajectory=JointTrajectory(joint_names=["body_height", "body_pitch"], points=[point])
    )


@pytest.fixture(scope="module")
def graph() -> Iterator[tuple[ThreadSafeActionClient, ThreadSafeActionClient]]:
    ns = "/" + unique("go2w_floor")
    processes = [
        spawn_node("maestro_tools.sim.mobile.node", ns, image_width=64, image_height=48),
        spawn_node(
            "maestro_tools.motion.node", ns, robot="go2w_piper", floor_from_tf=True, scene_timeout=2.0
        ),
    ]
    try:
        with ros_graph(lambda c: Node(unique("floor_client"), context=c)) as (node,):
            body = ThreadSafeActionClient(
                node, FollowJointTrajectory, f"{ns}/body_controller/follow_joint_trajectory"
            )
            arm = ThreadSafeActionClient(node, MoveArm, f"{ns}/move_arm")
            yield body, arm
    finally:
        outputs = [stop(p) for p in reversed(processes)]
        for output in outputs:
            assert "Traceback" not in output, output


def test_the_floor_follows_the_crouch(graph) -> None:
    body, arm = graph
    low = _low_arm()
    goal = MoveArm.Goal(
        mode=MoveArm.Goal.JOINTS, joint_names=list(GO2W_PIPER.arm.joints), joint_positions=low
    )
    crouched = goal_result(send_goal(body, _body(-0.18, 0.3)), 30)
    assert crouched.error_code == FollowJointTrajectory.Result.SUCCESSFUL, crouched.error_string
    refused = goal_result(send_goal(arm, goal), 60)
    assert refused.error_code == ErrorCode.COLLISION and "floor" in refused.message, refused.message
    stood = goal_result(send_goal(body, _body(0.0, 0.0)), 30)
    assert stood.error_code == FollowJointTrajectory.Result.SUCCESSFUL, stood.error_string
    moved = goal_result(send_goal(arm, goal), 90)
    assert moved.success, moved.message
