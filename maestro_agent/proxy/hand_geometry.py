"""Hand poses the composite skills share (plain numpy): unit vectors, a top-down hand closing along a
given axis, an object's size along a direction, and the gripper's reach from its profile's volumes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from maestro_agent.proxy.types import Detection
from maestro_tools.grasping.collision import opened_to

Box = tuple[tuple[float, float, float], tuple[float, float, float]]


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-9 else vector


def size_along(detection: Detection, direction: np.ndarray) -> float:
    """The object's extent along a base-frame ``direction`` (its box seen along that axis)."""
    return float(np.sum(np.abs(detection.rotation.T @ unit(direction)) * detection.extent))


def top_down(finger_axis: np.ndarray) -> np.ndarray:
    """The gripper pointing down with its fingers closing along the horizontal ``finger_axis``; of the
    two such hands, the one whose yaw lies in [-90, 90] degrees (the wrist's middle range)."""
    y = unit(np.array([finger_axis[0], finger_axis[1], 0.0]))
    down = np.array([0.0, 0.0, -1.0])
    if np.cross(y, down)[0] < 0:
        y = -y
    return np.column_stack([np.cross(y, down), y, down])


def finger_reach(volumes: Sequence[Box], max_width: float, opening: float = 0.0) -> float:
    """How far the fingers, open to ``opening``, reach from the TCP along the closing axis (the volumes
    are measured open to ``max_width``; the grasp planner's ``opened_to`` moves the finger boxes in)."""
    fingers = [(lo, hi) for lo, hi in volumes if lo[1] >= 0 or hi[1] <= 0]
    return max(max(abs(lo[1]), abs(hi[1])) for lo, hi in opened_to(fingers, opening, max_width))


def hand_underside(volumes: Sequence[Box]) -> float:
    """How far above the TCP (against the approach) the hand's underside is: the volume spanning the
    closing axis is the hand; its end nearest the fingertips."""
    hand = [hi[2] for lo, hi in volumes if lo[1] < 0 < hi[1]]
    return -max(hand)


def fingertips(volumes: Sequence[Box]) -> float:
    """How far the fingertips reach past the TCP along the approach."""
    return max(hi[2] for _, hi in volumes)
