"""A NavigateBase goal's ``max_speed`` without ROS (a careful drive, carrying something): the whole drive,
turns and accelerations included, scaled down with it (the goal check: test_navigation_backends)."""

from __future__ import annotations

import itertools
import math

import pytest

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.navigation.follower import Pose2D
from test.unit.test_navigation_backends import navigator, unicycle, wall_grid


def drive(scale: float) -> tuple[list[float], list[float], float, bool]:
    """Around the wall to a goal facing back: the commands, and how much of the run turned the base."""
    nav = navigator(wall_grid())
    pose, now, goal = Pose2D(0.0, 0.0, 0.0), 0.0, Pose2D(4.0, 0.3, math.pi)
    nav.start(goal, goal.yaw, 0.1, 0.1, now, 600.0, speed_scale=scale)
    linear, angular = [0.0], [0.0]
    for _ in range(6000):
        step = nav.step(pose, now)
        if step.done:
            break
        linear.append(step.linear)
        angular.append(step.angular)
        pose, now = unicycle(pose, step.linear, step.angular, 0.1), now + 0.1
    return linear, angular, now, step.done


def test_a_scaled_goal_drives_turns_and_accelerates_within_the_scaled_limits() -> None:
    full_linear, _, full_time, full_done = drive(1.0)
    linear, angular, time, done = drive(0.4)
    config = navigator(wall_grid()).follower.config
    assert full_done and done
    assert max(map(abs, full_linear)) > 0.4 * config.max_linear + 0.05  # the full drive goes faster
    assert max(map(abs, linear)) <= 0.4 * config.max_linear + 1e-9
    assert max(map(abs, angular)) <= 0.4 * config.max_angular + 1e-9
    accelerations = [abs(b - a) / 0.1 for a, b in itertools.pairwise(linear)]
    assert max(accelerations) <= 0.4 * config.max_linear_accel + 1e-6
    assert time > 1.5 * full_time


def test_a_scale_outside_0_to_1_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"speed scale must be in \(0, 1\]"):
        navigator(wall_grid()).start(Pose2D(1, 0, 0), None, 0.1, 0.1, 0.0, 60.0, speed_scale=0.0)
