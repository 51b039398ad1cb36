"""The control_msgs goals the vla_bridge sends: a chunk's stretch for the arm, an opening for the gripper."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

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


class TrajectoryClock:
    """Seconds into a running arm trajectory: the controller's feedback (``desired.time_from_start``) once
    it reports a time, else the wall clock since the goal was sent. A chunk's steps (and its gripper commands)
    then follow the arm, also when a simulation runs slower than real time."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.reported: float | None = None

    def on_feedback(self, message: Any) -> None:
        stamp = message.feedback.desired.time_from_start
        seconds = stamp.sec + stamp.nanosec * 1e-9
        if seconds > 0:  # a controller that leaves it unset keeps the wall clock
            self.reported = seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.started if self.reported is None else self.reported
