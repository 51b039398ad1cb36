"""The control_msgs goals the vla_bridge sends: a chunk's stretch for the arm, an opening for the gripper."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from control_msgs.action import FollowJointTrajectory, GripperCommand
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from maestro_tools.robots.profile import RobotProfile


def _duration(seconds: float) -> Duration:
    nanoseconds = round(seconds * 1e9)
    return Duration(sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9)


def trajectory_goal(names: Sequence[str], joints: np.ndarray, period: float) -> FollowJointTrajectory.Goal:
    """Row k of ``joints`` reached at (k + 1) * ``period`` from now (the controller starts from where the
    arm is); the controller's own goal tolerance."""
    points = [
        JointTrajectoryPoint(positions=[float(v) for v in row], time_from_start=_duration((k + 1) * period))
        for k, row in enumerate(np.asarray(joints, dtype=np.float64))
    ]
    return FollowJointTrajectory.Goal(trajectory=JointTrajectory(joint_names=list(names), points=points))


def gripper_goal(profile: RobotProfile, width: float, force: float = 0.0) -> GripperCommand.Goal:
    """Open to ``width`` metres; ``position`` is one finger joint's travel (franka_gripper's convention)."""
    gripper = profile.gripper
    assert gripper is not None
    goal = GripperCommand.Goal()
    goal.command.position = float(np.clip(width, 0.0, gripper.max_width)) / len(gripper.finger_joints)
    goal.command.max_effort = float(min(force or gripper.grasp_force, gripper.max_force))
    return goal
