"""Top-down grasps aligned to an object's box (plain numpy).

A parallel gripper closes along its TCP y axis and approaches along TCP z. A top-down grasp points z
down and closes across one of the object's horizontal box axes (the narrower first). The TCP goes
``finger_depth`` below the object's top (not below its middle, and never so low that the finger
pads touch what the object stands on: ``pad_clearance`` above its bottom). The yaw is chosen of the
two equivalent ones to keep the wrist near its preferred orientation (TCP x along base +x unless the
robot's profile gives another ``down_yaw``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError

GROUND_GAP = 0.04  # m: a box's seen bottom this close above a support surface is taken to stand on it


@dataclass(frozen=True)
class GraspCandidate:
    pose: np.ndarray  # 4x4 TCP pose in the base frame
    width: float  # jaw opening needed, metres
    score: float
    strategy: str

    @property
    def approach(self) -> np.ndarray:
        return self.pose[:3, 2].copy()


def checked_object(object_pose: np.ndarray, extent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An object's 4x4 pose and 3-vector extent as float arrays, or InvalidArgumentError."""
    object_pose, extent = np.asarray(object_pose, float), np.asarray(extent, float)
    if (
        object_pose.shape != (4, 4)
        or extent.shape != (3,)
        or not (np.isfinite(object_pose).all() and np.isfinite(extent).all())
    ):
        raise InvalidArgumentError("the object needs a finite 4x4 pose and a 3-vector extent")
    return object_pose, extent


def stand_on_support(
    object_pose: np.ndarray, extent: np.ndarray, support_tops: Sequence[float], max_gap: float = GROUND_GAP
) -> tuple[np.ndarray, np.ndarray]:
    """The object's box grown down to the support surface under it when its seen bottom floats up to
    ``max_gap`` above that surface's top (``support_tops``: the tops of the surfaces beneath its centre).
    Seen from above, a box's sides hide below its top face, so a flat-looking box (a butter pack) would
    put the pads above the object; an object rests on something, and a gap that small is no other object."""
    object_pose, extent = checked_object(object_pose, extent)
    bottom = object_pose[2, 3] - extent[2] / 2
    below = [top for top in support_tops if 0.0 < bottom - top <= max_gap]
    if not below or abs(object_pose[2, 2]) < 0.99:  # nothing close beneath, or a box not upright
        return object_pose, extent
    top, floor = bottom + extent[2], max(below)
    pose, grown = object_pose.copy(), extent.copy()
    pose[2, 3], grown[2] = (top + floor) / 2, top - floor
    return pose, grown


def top_down_grasps(
    object_pose: np.ndarray,
    extent: np.ndarray,
    max_width: float,
    finger_depth: float,
    pad_clearance: float,
    clearance: float = 0.01,
    down_yaw: float = 0.0,
) -> list[GraspCandidate]:
    """Top-down grasps across the object's horizontal axes, best first; empty if it is too wide.
    ``down_yaw``: the wrist's preferred yaw (rad) of the TCP x axis, from the robot's profile."""
    object_pose, extent = checked_object(object_pose, extent)
    centre = object_pose[:3, 3]
    top = centre[2] + extent[2] / 2
    bottom = centre[2] - extent[2] / 2
    height = max(top - min(finger_depth, extent[2] / 2), bottom + pad_clearance)
    preferred = np.array([np.cos(down_yaw), np.sin(down_yaw), 0.0])
    order = sorted(range(2), key=lambda axis: extent[axis])  # the narrow side first
    candidates = []
    for rank, axis in enumerate(order):
        width = float(extent[axis] + clearance)
        if width > max_width:
            continue
        closing = object_pose[:3, axis].copy()
        closing[2] = 0.0
        closing /= np.linalg.norm(closing)
        z = np.array([0.0, 0.0, -1.0])
        x = np.cross(closing, z)
        if x @ preferred < 0:  # the equivalent grasp turned by 180 degrees keeps the wrist nearer home
            x, closing = -x, -closing
        pose = np.eye(4)
        pose[:3, :3] = np.stack([x, closing, z], axis=1)
        pose[:3, 3] = [centre[0], centre[1], height]
        score = (1.0 - 0.2 * rank) * (1.0 - 0.5 * width / max_width)
        candidates.append(GraspCandidate(pose, min(width, max_width), score, "top_down"))
    return sorted(candidates, key=lambda c: -c.score)
