"""geometry.fit_hinge, hinge_axis, wipe_path and the arc poses of robot.move_gripper_arc (plain numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from maestro_agent.proxy.geometry import Geometry, arc_poses
from maestro_tools.common.errors import InvalidArgumentError

GEOMETRY = Geometry()


def on_circle(pivot: np.ndarray, axis: np.ndarray, radius: float, degrees: list[float]) -> np.ndarray:
    start = np.eye(4)
    helper = np.cross(axis, [1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
    start[:3, 3] = pivot + radius * helper / np.linalg.norm(helper)
    return np.array([start[:3, 3]] + [arc_poses(start, pivot, axis, d)[-1][:3, 3] for d in degrees])


def test_fit_hinge_finds_a_door_hinge_from_handle_positions() -> None:
    pivot, axis = np.array([0.65, 0.16, 0.1]), np.array([0.0, 0.0, 1.0])
    handle = on_circle(pivot, axis, 0.28, [-8.0, -20.0])  # before and after two small pulls
    hinge = GEOMETRY.fit_hinge(handle)
    assert np.allclose(hinge["axis"], axis, atol=1e-6)
    assert np.allclose(hinge["pivot"][:2], pivot[:2], atol=1e-6) and hinge["rms"] < 1e-9
    assert hinge["radius"] == pytest.approx(0.28) and hinge["angle"] == pytest.approx(-20.0)
    # Seen points carry millimetres of noise: over 40 degrees of turn the pivot is good to a few cm.
    seen = on_circle(pivot, axis, 0.28, [-10.0, -25.0, -40.0])
    noisy = seen + np.random.default_rng(0).normal(0.0, 0.001, seen.shape)
    assert np.linalg.norm(GEOMETRY.fit_hinge(noisy, axis=[0, 0, 1])["pivot"][:2] - pivot[:2]) < 0.03


def test_fit_hinge_on_a_tilted_axis_and_its_refusals() -> None:
    axis = np.array([1.0, 0.0, 1.0]) / np.sqrt(2)
    points = on_circle(np.array([0.4, 0.0, 0.3]), axis, 0.1, [30.0, 60.0, 90.0])
    hinge = GEOMETRY.fit_hinge(points)
    assert np.allclose(hinge["axis"], axis, atol=1e-6) and hinge["angle"] == pytest.approx(90.0)
    assert np.allclose(hinge["pivot"], [0.4, 0.0, 0.3], atol=1e-6)
    with pytest.raises(InvalidArgumentError, match="at least 3"):
        GEOMETRY.fit_hinge(points[:2])
    with pytest.raises(InvalidArgumentError, match="on a line"):
        GEOMETRY.fit_hinge([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.2, 0.0, 0.0]])
    with pytest.raises(InvalidArgumentError, match="not turned"):
        GEOMETRY.fit_hinge([[0.5, 0.0, 0.1], [0.501, 0.0, 0.1], [0.5, 0.002, 0.1]])
    with pytest.raises(InvalidArgumentError, match="axis"):
        GEOMETRY.fit_hinge(points, axis=[0, 0, 0])


def test_hinge_axis_from_a_point_and_a_direction() -> None:
    hinge = GEOMETRY.hinge_axis([0.65, 0.16, 0.1], [0, 0, 2])
    assert np.allclose(hinge["axis"], [0, 0, 1]) and np.allclose(hinge["pivot"], [0.65, 0.16, 0.1])
    with pytest.raises(InvalidArgumentError, match="pivot"):
        GEOMETRY.hinge_axis([0.65, np.nan, 0.1])


def test_arc_poses_keep_the_radius_and_turn_the_orientation() -> None:
    start = np.eye(4)
    start[:3, :3] = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])  # pointing along +x
    start[:3, 3] = [0.6, -0.12, 0.1]
    pivot, axis = np.array([0.65, 0.16, 0.1]), np.array([0.0, 0.0, 1.0])
    poses = arc_poses(start, pivot, axis, -85.0)
    assert len(poses) == 17  # every 5 degrees at most
    radius = np.linalg.norm(start[:3, 3] - pivot)
    assert all(abs(np.linalg.norm(p[:3, 3] - pivot) - radius) < 1e-9 for p in poses)
    approach = poses[-1][:3, 2]  # the approach turned with the door: -85 degrees about z from +x
    assert np.allclose(approach, [np.cos(np.radians(-85)), np.sin(np.radians(-85)), 0.0], atol=1e-9)
    assert all(p[2, 3] == pytest.approx(0.1) for p in poses)


def test_wipe_path_covers_a_rotated_rectangle_back_and_forth() -> None:
    yaw = np.radians(30)
    along, across = np.array([np.cos(yaw), np.sin(yaw)]), np.array([-np.sin(yaw), np.cos(yaw)])
    centre = np.array([0.5, 0.1])
    corners = [[*(centre + a * 0.15 * along + b * 0.06 * across), 0.012] for a in (-1, 1) for b in (-1, 1)]
    path = GEOMETRY.wipe_path(corners, height=0.03, spacing=0.04, inset=0.01)
    assert path.shape == (8, 3) and np.allclose(path[:, 2], 0.03)  # 4 strokes over 10 cm, 4 cm apart
    local = (path[:, :2] - centre) @ np.column_stack([along, across])
    assert np.allclose(np.abs(local[:, 0]), 0.14)  # strokes along the long side, 1 cm inside its ends
    offsets = local[::2, 1]
    assert np.allclose(local[1::2, 1], offsets)  # each stroke straight along the long side
    assert np.allclose(np.sort(offsets), [-0.05, -0.05 / 3, 0.05 / 3, 0.05])  # 1 cm inside the long sides
    assert np.allclose(np.abs(np.diff(offsets)), 0.1 / 3) and len(set(np.sign(np.diff(offsets)))) == 1
    strokes = local[1::2, 0] - local[::2, 0]
    assert np.all(strokes[::2] * strokes[0] > 0) and np.all(strokes[1::2] * strokes[0] < 0)  # back and forth


def test_wipe_path_refusals() -> None:
    square = [[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0], [0.1, 0.1, 0]]
    assert GEOMETRY.wipe_path(square, 0.02, spacing=0.2).shape == (4, 3)  # narrower than one stroke: 2
    with pytest.raises(InvalidArgumentError, match="on a line"):
        GEOMETRY.wipe_path([[0, 0, 0], [0.1, 0, 0], [0.2, 0, 0]], 0.02)
    with pytest.raises(InvalidArgumentError, match="spacing"):
        GEOMETRY.wipe_path(square, 0.02, spacing=0.0)
    with pytest.raises(InvalidArgumentError, match="inset"):
        GEOMETRY.wipe_path(square, 0.02, inset=0.08)
    with pytest.raises(InvalidArgumentError, match="corners"):
        GEOMETRY.wipe_path([[0, 0], [1, 1], [2, 0]], 0.02)
