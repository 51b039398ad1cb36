"""The motion node's FollowJointTrajectory goal: points kept inside the joint limits, which the arm
controller (here the sim's, as a real one would) refuses to go past."""

from __future__ import annotations

import numpy as np
import pytest

from maestro_tools.common.errors import OutOfLimitsError
from maestro_tools.motion.execution import seconds, trajectory_goal
from maestro_tools.robots.piper_model import ARM_JOINTS
from maestro_tools.sim.control import JointLimits, validate_trajectory

# Joint 3 stops at 0 as on the PiPER; a finger joint last (the kinematics carry it too).
LOWER = np.array([-2.618, 0.0, -2.967, -1.745, -1.22, -2.094, 0.0])
UPPER = np.array([2.618, 3.14, 0.0, 1.745, 1.22, 2.094, 0.035])


def controller_accepts(goal) -> None:
    limits = JointLimits(tuple(ARM_JOINTS), LOWER[:6], UPPER[:6])
    points = goal.trajectory.points
    validate_trajectory(
        limits,
        goal.trajectory.joint_names,
        [seconds(p.time_from_start) for p in points],
        [p.positions for p in points],
    )


def test_a_point_a_hair_past_a_stop_is_sent_on_the_stop() -> None:
    path = [np.array([0.1, 0.5, 1e-6, 0.0, 0.3, 0.0]), np.array([0.2, 1.0, -0.5, 0.0, 0.3, 0.0])]
    times = np.array([0.5, 1.0])
    with pytest.raises(OutOfLimitsError, match="piper_joint3"):  # as planned: refused
        controller_accepts(trajectory_goal(ARM_JOINTS, path, times, 0.0))
    goal = trajectory_goal(ARM_JOINTS, path, times, 0.01, (LOWER, UPPER))
    controller_accepts(goal)
    first = np.array(goal.trajectory.points[0].positions)
    assert first[2] == 0.0 and np.allclose(first[[0, 1, 3, 4, 5]], path[0][[0, 1, 3, 4, 5]])
    assert [t.position for t in goal.goal_tolerance] == [0.01] * 6
