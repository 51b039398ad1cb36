"""A box seen from above stands on the support surface under it: its hidden sides reach down to the table,
so a top-down grasp closes on the object and not above it (LIBERO's butter pack, seen as its top face)."""

from __future__ import annotations

import numpy as np

from maestro_tools.common.surfaces import SupportSurface, tops_beneath
from maestro_tools.grasping.top_down import stand_on_support, top_down_grasps

TABLE = SupportSurface("table", (0.5, 0.0, -0.05), (0.4, 0.4, 0.05))  # top at z = 0
FINGER_DEPTH, PADS = 0.016, 0.021


def box_at(z: float, yaw: float = 0.0) -> np.ndarray:
    pose = np.eye(4)
    c, s = np.cos(yaw), np.sin(yaw)
    pose[:2, :2] = [[c, -s], [s, c]]
    pose[:3, 3] = [0.5, 0.1, z]
    return pose


def test_a_flat_looking_box_is_grown_down_to_the_table_and_grasped_on_its_sides() -> None:
    # The butter's top face at 2.5 cm, seen 4 mm thick: its bottom seems to float 2.1 cm above the table.
    pose, seen = box_at(0.023, yaw=0.4), np.array([0.07, 0.04, 0.004])
    grounded, extent = stand_on_support(pose, seen, tops_beneath(pose[:3, 3], [TABLE]))
    assert np.isclose(extent[2], 0.025) and np.isclose(grounded[2, 3], 0.0125)
    assert np.allclose(grounded[:3, :3], pose[:3, :3]) and np.allclose(extent[:2], seen[:2])
    before = top_down_grasps(pose, seen, 0.08, FINGER_DEPTH, PADS)[0].pose[2, 3]
    after = top_down_grasps(grounded, extent, 0.08, FINGER_DEPTH, PADS)[0].pose[2, 3]
    assert before > 0.025  # the pads above the butter's top: a grasp on nothing
    assert np.isclose(after, PADS)  # the pads clear the table, on the butter's sides


def test_a_box_resting_on_another_object_or_far_above_the_table_is_left_as_seen() -> None:
    on_a_shelf = box_at(0.09)  # bottom 8 cm above the table: on something else
    extent = np.array([0.05, 0.05, 0.02])
    assert stand_on_support(on_a_shelf, extent, tops_beneath(on_a_shelf[:3, 3], [TABLE]))[1][2] == 0.02
    on_the_table = box_at(0.01)  # already standing on it
    assert np.allclose(stand_on_support(on_the_table, extent, [0.0])[0], on_the_table)
    tipped = box_at(0.03)
    tipped[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]  # lying on its side: its z is not the vertical
    assert stand_on_support(tipped, extent, [0.0])[1][2] == 0.02


def test_only_surfaces_under_the_point_and_below_it_count() -> None:
    shelf = SupportSurface("shelf", (0.5, 0.3, 0.2), (0.2, 0.1, 0.01))  # top at 0.21, over the table's side
    assert tops_beneath([0.5, 0.1, 0.02], [TABLE, shelf]) == [0.0]
    assert np.allclose(tops_beneath([0.5, 0.3, 0.3], [TABLE, shelf]), [0.0, 0.21])
    assert tops_beneath([0.5, 0.1, -0.2], [TABLE]) == []  # under the table
    assert tops_beneath([2.0, 0.0, 0.1], [TABLE]) == []  # beside it
