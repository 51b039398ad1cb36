"""The motion node's joint goal tolerance defaults to the robot profile's joint_tolerance, the one the
agent checks a move against: one number per robot, not a profile value and a parameter kept equal."""

from __future__ import annotations

import pytest
from rclpy.node import Node

from maestro_tools.motion.params import declare_motion_params
from maestro_tools.robots.franka import FRANKA
from maestro_tools.robots.libero import LIBERO
from maestro_tools.robots.profile import RobotProfile
from test.ros.helpers import ros_graph, unique


@pytest.mark.parametrize("profile", [FRANKA, LIBERO], ids=lambda p: p.name)
def test_goal_tolerance_is_the_profiles_joint_tolerance(profile: RobotProfile) -> None:
    with ros_graph(lambda c: Node(unique("motion_params"), context=c)) as (node,):
        assert profile.arm is not None
        assert declare_motion_params(node, profile).goal_tolerance == profile.arm.joint_tolerance
    assert LIBERO.arm is not None and FRANKA.arm is not None
    assert LIBERO.arm.joint_tolerance != FRANKA.arm.joint_tolerance  # the default is not one constant
