"""The navigator's push goals without ROS (NavigateBase behavior "push", how the base opens a door): straight
through what the grid holds, at the push speed, and a stall ends the goal at once."""

from __future__ import annotations

import math

import pytest

from maestro_tools.common.errors import StalledError
from maestro_tools.navigation.follower import Pose2D
from maestro_tools.navigation.grid import GridConfig, OccupancyGrid
from test.unit.test_navigation_backends import navigator, unicycle, wall_grid


def test_a_push_goal_drives_straight_through_the_wall_the_grid_holds_at_the_push_speed() -> None:
    nav = navigator(wall_grid())  # a wall across x = 1.9 .. 2.1 (a door in the way)
    pose, now, goal = Pose2D(1.0, 0.0, 0.0), 0.0, Pose2D(2.6, 0.0, 0.0)
    nav.start(goal, None, 0.1, 0.1, now, 60.0, push=True)
    speeds, sideways = [], 0.0
    for _ in range(600):
        step = nav.step(pose, now)
        if step.done:
            break
        speeds.append(step.linear)
        pose, now = unicycle(pose, step.linear, step.angular, 0.1), now + 0.1
        sideways = max(sideways, abs(pose.y))
    assert step.done and math.dist(pose.xy, goal.xy) <= 0.1, pose
    assert max(speeds) <= nav.config.push_speed + 1e-9 and sideways < 0.02 and nav.recoveries == 0
    assert nav.shortfall == 0.0  # the goal is not moved off the wall


def test_a_push_against_something_that_does_not_give_stalls_without_recoveries() -> None:
    nav = navigator(OccupancyGrid(GridConfig()), stall_time=1.0)
    pose, now = Pose2D(0.0, 0.0, 0.0), 0.0
    nav.start(Pose2D(1.0, 0.0, 0.0), None, 0.1, 0.1, now, 60.0, push=True)
    with pytest.raises(StalledError, match="without moving: what is ahead does not give"):
        for _ in range(100):  # the pose never changes: a latched door
            nav.step(pose, now)
            now += 0.1
    assert nav.recoveries == 0 and now < 2.0
