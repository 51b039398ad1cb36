"""Planar base geometry for whole-body planning: base poses in the map, a footprint rectangle's overlap with
keep-out boxes, and the extent of a model's geoms (to derive a base's standing height and footprint)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from maestro_tools.common.surfaces import SupportSurface

GEOM = mujoco.mjtGeom


@dataclass(frozen=True)
class BasePose:
    """A planar base pose in the map: position (m) and heading (rad)."""

    x: float
    y: float
    yaw: float

    @classmethod
    def from_matrix(cls, transform: np.ndarray) -> BasePose:
        """The planar part of a 4x4 map -> base transform."""
        t = np.asarray(transform, dtype=np.float64)
        return cls(float(t[0, 3]), float(t[1, 3]), math.atan2(t[1, 0], t[0, 0]))

    def to_base(self, point: np.ndarray) -> np.ndarray:
        """A map point's (x, y) in this base's frame."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        dx, dy = point[0] - self.x, point[1] - self.y
        return np.array([c * dx + s * dy, -s * dx + c * dy])


def footprint_overlaps(pose: BasePose, footprint: np.ndarray, box: SupportSurface, margin: float) -> bool:
    """Whether the base's footprint rectangle (xmin, xmax, ymin, ymax in the base frame), grown by
    ``margin``, overlaps ``box``'s (x, y) rectangle (separating axes)."""
    c, s = math.cos(pose.yaw), math.sin(pose.yaw)
    lo, hi = footprint[[0, 2]] - margin, footprint[[1, 3]] + margin
    corners = np.array([[x, y] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])])
    world = corners @ np.array([[c, s], [-s, c]]) + [pose.x, pose.y]
    bc, bh = np.asarray(box.center[:2]), np.asarray(box.half_size[:2])
    if np.any(world.max(axis=0) < bc - bh) or np.any(world.min(axis=0) > bc + bh):
        return False
    box_corners = np.array([[bc[0] + i * bh[0], bc[1] + j * bh[1]] for i in (-1, 1) for j in (-1, 1)])
    local = np.array([pose.to_base(p) for p in box_corners])
    return not (np.any(local.max(axis=0) < lo) or np.any(local.min(axis=0) > hi))


def subtree(model: mujoco.MjModel, root: int) -> list[int]:
    return [b for b in range(model.nbody) if b == root or _ancestor(model, root, b)]


def _ancestor(model: mujoco.MjModel, root: int, body: int) -> bool:
    while body > 0:
        body = int(model.body_parentid[body])
        if body == root:
            return True
    return False


def collision_geoms(model: mujoco.MjModel, bodies: Sequence[int]) -> list[int]:
    return [g for g in range(model.ngeom) if model.geom_bodyid[g] in bodies and model.geom_contype[g]]


def extent(model: mujoco.MjModel, data: mujoco.MjData, geoms: Sequence[int]) -> np.ndarray:
    """(min xyz, max xyz) of the geoms, world frame: exact for spheres, capsules, cylinders and boxes,
    their bounding box otherwise."""
    low, high = np.full(3, np.inf), np.full(3, -np.inf)
    for g in geoms:
        rot, size = data.geom_xmat[g].reshape(3, 3), model.geom_size[g]
        axis = np.abs(rot[:, 2])  # |world component| of the geom's z axis, per world axis
        kind = model.geom_type[g]
        if kind == GEOM.mjGEOM_SPHERE:
            reach = np.full(3, size[0])
        elif kind == GEOM.mjGEOM_CAPSULE:
            reach = axis * size[1] + size[0]
        elif kind == GEOM.mjGEOM_CYLINDER:
            reach = axis * size[1] + size[0] * np.sqrt(np.clip(1.0 - axis**2, 0.0, 1.0))
        else:
            half = size if kind == GEOM.mjGEOM_BOX else model.geom_aabb[g, 3:]
            reach = np.abs(rot) @ half
        center = (
            data.geom_xpos[g]
            if kind != GEOM.mjGEOM_MESH
            else data.geom_xpos[g] + rot @ model.geom_aabb[g, :3]
        )
        low, high = np.minimum(low, center - reach), np.maximum(high, center + reach)
    return np.array([low, high])
