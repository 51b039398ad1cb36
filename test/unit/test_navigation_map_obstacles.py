"""Furniture from the semantic map in the navigation grid (plain numpy): which mapped boxes are kept out,
how the grid and the planner see them, and a footprint the robot stands in is left out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maestro_tools.mapping.furniture_source import MapObstacleConfig
from maestro_tools.navigation.follower import FollowerConfig, PathFollower, Pose2D
from maestro_tools.navigation.grid import GridConfig, OccupancyGrid
from maestro_tools.navigation.map_obstacles import footprints
from maestro_tools.navigation.navigator import Navigator, NavigatorConfig
from maestro_tools.navigation.planner import GridPlanner


def box(x: float, y: float, z: float, yaw: float = 0.0) -> np.ndarray:
    pose = np.eye(4)
    pose[:2, :2] = [[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]]
    pose[:3, 3] = (x, y, z)
    return pose


TABLE = ("white table", box(2.6, 1.3, 0.31, 0.3), np.array([1.2, 0.7, 0.62]))


def test_furniture_in_the_robots_height_band_is_kept_out_and_the_rest_is_not() -> None:
    objects = [
        TABLE,
        ("door", box(-1.0, 0.0, 1.0), np.array([0.05, 0.9, 2.0])),  # opens: ignored
        ("green plush ball", box(2.4, 1.2, 0.66), np.array([0.07, 0.07, 0.07])),  # small
        ("ceiling lamp", box(1.0, 1.0, 2.2), np.array([0.5, 0.5, 0.2])),  # above the robot
    ]
    (table,) = footprints(objects, 0.0, (0.08, 1.0), MapObstacleConfig())
    assert table.label == "white table" and table.half == pytest.approx([0.6, 0.35])
    corner = np.array([2.6, 1.3]) + table.axes @ [0.55, 0.3]
    outside = np.array([2.6, 1.3]) + table.axes @ [0.65, 0.0]
    assert table.contains(np.array([corner, outside])).tolist() == [True, False]


def test_the_grid_keeps_a_table_the_depth_does_not_show_and_paths_go_round_it() -> None:
    grid = OccupancyGrid(GridConfig(resolution=0.05, size=8.0), centre=(2.0, 1.0))
    (table,) = footprints([TABLE], 0.0, (0.08, 1.0), MapObstacleConfig())
    navigator = Navigator(
        grid,
        GridPlanner(),
        PathFollower(FollowerConfig()),
        NavigatorConfig(footprint_radius=0.45, inscribed_radius=0.25),
    )
    start = Pose2D(1.0, 1.3, 0.0)
    navigator.set_keep_out([table], start)
    assert grid.occupied.sum() == pytest.approx(1.2 * 0.7 / 0.05**2, rel=0.1)
    path = GridPlanner().plan(navigator.costmap(), start.xy, np.array([4.2, 1.3]))
    assert np.abs(path[:, 1] - 1.3).max() > 0.6  # round the table, not under it
    # A footprint the robot stands in is a wrong box: left out, the robot is not walled in.
    navigator.set_keep_out([table], Pose2D(2.6, 1.3, 0.0))
    assert not grid.occupied.any()
