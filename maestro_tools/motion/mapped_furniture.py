"""Furniture the semantic map remembers, as obstacles for the arm: what the cameras lose from close by.

A mobile robot's head camera looks ahead and down. Standing by the end of a sofa to reach a toy behind
it, the top of the sofa's back is above its view, and the hand, raised to look at the toy, ran into it.
The semantic map keeps each piece of furniture's box from every view (``mapping/furniture.py``). The
motion node samples the faces of the boxes near the arm (base frame, every ``SPACING`` m; not their
bottoms, which lie on the floor) into one more obstacle cloud, without a hidden side: the box is whole.
A mapped box is fitted from earlier views and can be off by a few degrees or centimetres (a sofa's box
5-6 deg off stuck 9-16 cm out past its end, into the gap behind it where the toy lay, and every grasp
there collided with it): ``not_seen_through`` drops the face points a camera sees past now, so the map
fills in what the cameras do not see and yields where they do. Plain numpy here; ``MappedFurniture``
asks the mapper through ``mapping.furniture_source``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node

from maestro_tools.common.conversions import project_points
from maestro_tools.mapping.furniture_source import MapObstacleConfig, MapObstacleSource
from maestro_tools.perception.objects import CameraFrame

SPACING = 0.01  # m between sampled points: the scene clouds' voxel
SEEN_PAST = 0.05  # m: a face point this far in front of what a camera measured along its ray is not there
NEAREST = 0.05  # m: points nearer a camera than this are not judged by it
Box = tuple[str, np.ndarray, np.ndarray]  # label, 4x4 pose, extent (m)


def box_faces(pose: np.ndarray, extent: np.ndarray, spacing: float = SPACING) -> np.ndarray:
    """(N, 3) points every ``spacing`` m on the faces of a box (``pose``'s frame), its bottom left out."""
    half = np.asarray(extent, dtype=np.float64) / 2
    ticks = [np.linspace(-h, h, max(2, int(np.ceil(2 * h / spacing)) + 1)) for h in half]
    faces = []
    for axis in range(3):
        u, v = (a for a in range(3) if a != axis)
        grid_u, grid_v = np.meshgrid(ticks[u], ticks[v], indexing="ij")
        for side in (-1.0, 1.0):
            if axis == 2 and side < 0:
                continue  # the bottom: on the floor
            face = np.empty((grid_u.size, 3))
            face[:, axis], face[:, u], face[:, v] = side * half[axis], grid_u.ravel(), grid_v.ravel()
            faces.append(face)
    local = np.vstack(faces)
    return local @ np.asarray(pose)[:3, :3].T + np.asarray(pose)[:3, 3]


def furniture_points(
    objects: Sequence[Box],
    base_in_fixed: np.ndarray,
    radius: float,
    config: MapObstacleConfig,
    spacing: float = SPACING,
) -> np.ndarray:
    """Points (base frame) on the faces of the furniture among ``objects`` (fixed frame: at least
    ``config.min_size`` across, not ``config.ignore``d) within ``radius`` m of the base frame's origin."""
    to_base = np.linalg.inv(base_in_fixed)
    clouds = [np.zeros((0, 3))]
    for label, pose, extent in objects:
        if not config.keeps(label, extent):
            continue
        in_base = to_base @ pose
        reach = radius + float(np.linalg.norm(extent)) / 2
        if np.linalg.norm(in_base[:3, 3]) > reach:
            continue  # no face comes within the radius
        points = box_faces(in_base, extent, spacing)
        clouds.append(points[np.linalg.norm(points, axis=1) <= radius])
    return np.vstack(clouds)


def not_seen_through(
    points: np.ndarray, frames: Sequence[CameraFrame], margin: float = SEEN_PAST
) -> np.ndarray:
    """``points`` (base frame) without those a camera of ``frames`` saw past: in its image, with a depth
    reading more than ``margin`` m beyond them. Points out of every view, behind a seen surface, or at a
    pixel without a reading stay."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    keep = np.ones(len(points), dtype=bool)
    for frame in frames:
        pixels, z = project_points(points, frame.intrinsics, frame.camera_pose)
        (rows, cols), (u, v) = frame.depth.shape, np.floor(pixels).astype(np.int64).T
        judged = np.flatnonzero((z > NEAREST) & (u >= 0) & (u < cols) & (v >= 0) & (v < rows))
        measured = frame.depth[v[judged], u[judged]]
        past = np.isfinite(measured) & (measured > 0) & (measured > z[judged] + margin)
        keep[judged[past]] = False
    return points[keep]


class MappedFurniture:
    """The mapper's furniture near the arm, asked for every ``config.period`` s (never blocking)."""

    def __init__(
        self, node: Node, group: CallbackGroup, fixed_frame: str, config: MapObstacleConfig, radius: float
    ) -> None:
        self.config, self.radius = config, radius
        self.source = MapObstacleSource(node, group, fixed_frame, config)
        node.create_timer(config.period, lambda: self.source.refresh(time.monotonic()), callback_group=group)

    def points(self, base_in_fixed: np.ndarray | None) -> np.ndarray | None:
        """The furniture's face points in the base frame at ``base_in_fixed`` (None: no pose, or nothing
        mapped near)."""
        objects = self.source.objects()
        if base_in_fixed is None or not objects:
            return None
        points = furniture_points(objects, base_in_fixed, self.radius, self.config)
        return points if len(points) else None
