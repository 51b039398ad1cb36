"""A long base that stands facing an obstacle closer than its footprint's radius (where it stood at a table
to grasp) backs out straight before it turns onto its path: turning in place there swings its corners
into the table (the Go2-W stalled there, and once tipped over in the recoveries that followed)."""

from __future__ import annotations

import math

import numpy as np

from maestro_tools.navigation.follower import Pose2D
from maestro_tools.navigation.navigator import NavState
from test.unit.test_navigation_backends import navigator, unicycle, wall_grid


def drive(nav, pose: Pose2D, goal: Pose2D, ticks: int = 1500) -> tuple[Pose2D, list]:
    now, steps = 0.0, []
    nav.start(goal, None, 0.1, 0.1, now, 300.0)
    for _ in range(ticks):
        step = nav.step(pose, now)
        steps.append((pose, step))
        if step.done:
            break
        pose, now = unicycle(pose, step.linear, step.angular, 0.1), now + 0.1
    return pose, steps


def test_a_base_facing_a_wall_closer_than_its_footprint_backs_out_straight_before_it_turns() -> None:
    nav = navigator(wall_grid(), inscribed_radius=0.2)  # a wall across x = 1.9 .. 2.1, y = -1 .. 1
    start, goal = Pose2D(1.6, 0.0, 0.0), Pose2D(0.3, 1.2, 0.0)  # 0.3 m from it, facing it; goal behind
    pose, steps = drive(nav, start, goal)
    assert steps[-1][1].done and math.dist(pose.xy, goal.xy) <= 0.1, pose
    first_turn = next(i for i, (_, step) in enumerate(steps) if abs(step.angular) > 1e-6)
    backing = [step for _, step in steps[:first_turn] if step.linear < 0]
    assert backing and all(step.state == NavState.RECOVERING for step in backing)
    turned_at = steps[first_turn][0]
    assert turned_at.x <= start.x - nav.config.backup_distance + 0.02 and abs(turned_at.y) < 1e-6
    assert nav.recoveries == 0  # the escape is not a recovery


def test_a_base_with_room_to_turn_or_a_path_straight_ahead_does_not_back_out() -> None:
    for start, goal in (
        (Pose2D(1.0, 0.0, 0.0), Pose2D(0.3, 1.2, 0.0)),  # 0.9 m from the wall: room to turn
        (Pose2D(1.6, 1.3, 0.0), Pose2D(3.0, 1.3, 0.0)),  # past the wall's end, the way is straight on
    ):
        nav = navigator(wall_grid(), inscribed_radius=0.2)
        pose, steps = drive(nav, start, goal)
        assert steps[-1][1].done and math.dist(pose.xy, goal.xy) <= 0.1, (start, pose)
        assert not any(step.linear < 0 for _, step in steps[:20]), start
        assert np.isclose(nav.shortfall, 0.0)
