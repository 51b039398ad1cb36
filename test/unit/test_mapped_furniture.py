"""Mapped furniture as arm obstacles (``motion.mapped_furniture``): a box's faces in the base frame, its
bottom left out, only furniture near the arm, small objects and ignored labels skipped, and the points
a camera sees past dropped."""

from __future__ import annotations

import math

import numpy as np

from maestro_tools.mapping.furniture_source import MapObstacleConfig
from maestro_tools.motion.mapped_furniture import box_faces, furniture_points, not_seen_through
from maestro_tools.perception.objects import CameraFrame

SOFA_EXTENT = np.array([1.8, 0.16, 0.6])  # a sofa's back (m)


def _pose(x: float, y: float, z: float, yaw: float = 0.0) -> np.ndarray:
    pose = np.eye(4)
    c, s = math.cos(yaw), math.sin(yaw)
    pose[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    pose[:3, 3] = x, y, z
    return pose


def test_the_faces_lie_on_the_box_every_centimetre_without_the_bottom() -> None:
    pose = _pose(1.0, 2.0, 0.55, yaw=math.pi / 2)
    points = box_faces(pose, SOFA_EXTENT, 0.01)
    local = (points - pose[:3, 3]) @ pose[:3, :3]
    half = SOFA_EXTENT / 2
    assert np.all(np.abs(local) <= half + 1e-9)
    on_a_face = np.isclose(np.abs(local), half).any(axis=1)
    assert on_a_face.all()
    inside = np.all(np.abs(local[:, :2]) < half[:2] - 0.005, axis=1)
    assert not np.isclose(local[inside, 2], -half[2]).any()  # no bottom, but the top
    top = local[inside & np.isclose(local[:, 2], half[2])]
    assert len(top) >= (1.8 / 0.01 - 1) * (0.16 / 0.01 - 1)  # dense: no gap wider than the spacing


def test_furniture_near_the_arm_comes_in_the_base_frame_and_the_rest_is_left_out() -> None:
    base = _pose(2.5, -2.1, 0.44, yaw=math.pi)  # the robot facing -x, beside the sofa's end
    objects = [
        ("sofa", _pose(1.2, -2.07, 0.55), SOFA_EXTENT),  # its back's east end 0.4 m ahead of the base
        ("orange plush ball", _pose(1.95, -2.31, 0.03), np.full(3, 0.064)),  # a toy, not furniture
        ("door", _pose(2.0, -1.5, 1.0), np.array([0.05, 0.9, 2.0])),  # ignored: it opens
        ("shelf", _pose(4.75, 1.2, 0.6), np.array([0.4, 1.0, 1.2])),  # beyond the radius
    ]
    points = furniture_points(objects, base, 0.9, MapObstacleConfig())
    assert len(points) > 1000 and np.all(np.linalg.norm(points, axis=1) <= 0.9)
    fixed = points @ base[:3, :3].T + base[:3, 3]  # back in the map: all on the sofa's back
    assert np.all(fixed[:, 0] <= 2.1 + 1e-9) and np.all(np.abs(fixed[:, 1] + 2.07) <= 0.08 + 1e-9)
    ahead = points[:, 0] > 0.0
    assert ahead.all()  # the sofa is ahead of the robot in its own frame
    assert furniture_points(objects[1:], base, 0.9, MapObstacleConfig()).shape == (0, 3)


def _camera(depth: np.ndarray) -> CameraFrame:
    """A 100x80 camera at the base origin looking along +x (optical z = base x, x = -y, y = -z)."""
    pose = np.eye(4)
    pose[:3, :3] = [[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]
    intrinsics = np.array([[50.0, 0.0, 50.0], [0.0, 50.0, 40.0], [0.0, 0.0, 1.0]])
    rgb = np.zeros((*depth.shape, 3), np.uint8)
    return CameraFrame("head", rgb, depth, None, {}, intrinsics, pose, 0.0)


def test_face_points_a_camera_sees_past_are_dropped_and_the_rest_stay() -> None:
    depth = np.full((80, 100), 1.0, np.float32)  # a wall 1 m ahead
    depth[:, :10] = 0.0  # no reading at the image's left edge (base +y)
    points = np.array(
        [
            [0.5, 0.0, 0.0],  # 0.5 m in front of the wall in view: seen past, not there
            [0.97, 0.0, 0.0],  # on the wall (within the margin): there
            [1.5, 0.0, 0.0],  # behind the wall: hidden, kept
            [0.5, 0.0, 0.5],  # above the view (45 deg up; the image reaches 38.7 deg): kept
            [-0.5, 0.0, 0.0],  # behind the camera: kept
            [0.5, 0.45, 0.0],  # in view where there is no reading: kept
        ]
    )
    kept = not_seen_through(points, [_camera(depth)])
    np.testing.assert_array_equal(kept, points[1:])
    assert len(not_seen_through(points, [])) == len(points)  # no camera: the map stands
    blind = _camera(np.zeros((80, 100), np.float32))  # no readings: it neither drops nor restores
    assert len(not_seen_through(points, [blind])) == len(points)
    assert len(not_seen_through(points, [blind, _camera(depth)])) == len(points) - 1
