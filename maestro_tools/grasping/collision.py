"""Grasp collision checks against the observed scene: the open gripper's fingers and hand, swept
along the approach from the pre-grasp to the grasp, must not contain scene points.

Volumes are boxes in the TCP frame (z = approach, y = closing direction) from the robot profile's
gripper (``GripperSpec.volumes``), with the gripper fully open, as it approaches. The scene is a depth
cloud in the base frame off the support surfaces (``perception.cloud.scene_points``); a few stray points
are tolerated as depth noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from maestro_tools.grasping.top_down import GraspCandidate

Box = tuple[tuple[float, float, float], tuple[float, float, float]]


def colliding_points(
    pose: np.ndarray, points: np.ndarray, volumes: Sequence[Box], approach: float = 0.1, margin: float = 0.003
) -> int:
    """Scene points inside the fingers' and hand's volumes swept ``approach`` metres back along -z.

    ``margin`` widens the volumes sideways only: top-down grasps put the hand's underside 2 mm above the
    object's top by design, so a margin along the approach would reject every one of them.
    """
    if len(points) == 0:
        return 0
    local = (points - pose[:3, 3]) @ pose[:3, :3]  # into the TCP frame
    side = np.array([margin, margin, 0.0])
    count = 0
    for low, high in volumes:
        swept_low = np.asarray(low) - side - np.array([0.0, 0.0, approach])
        inside = np.all((local >= swept_low) & (local <= np.asarray(high) + side), axis=1)
        count += int(inside.sum())
    return count


def opened_to(volumes: Sequence[Box], opening: float, max_width: float) -> list[Box]:
    """``volumes`` (measured fully open, ``max_width``) with the gripper opened to ``opening`` instead: the
    boxes on one side of the closing axis (the fingers) move in by half the difference; the hand stays."""
    shift = max(0.0, (max_width - opening) / 2)
    moved: list[Box] = []
    for low, high in volumes:
        side = 1.0 if low[1] >= 0 else -1.0 if high[1] <= 0 else 0.0
        delta = np.array([0.0, -side * shift, 0.0])
        moved.append((tuple(np.asarray(low) + delta), tuple(np.asarray(high) + delta)))
    return moved


def collision_free(
    candidates: Sequence[GraspCandidate],
    points: np.ndarray,
    volumes: Sequence[Box],
    approach: float = 0.1,
    tolerance: int = 5,
    opening: Callable[[GraspCandidate], float] | None = None,
    max_width: float | None = None,
) -> list[GraspCandidate]:
    """The candidates whose approach and grasp leave at most ``tolerance`` scene points in the gripper;
    with ``opening`` (and the ``max_width`` the volumes were measured at), each candidate's fingers are
    checked where that opening puts them (a part grasp opens only partly)."""
    free = []
    for candidate in candidates:
        boxes = volumes
        if opening is not None and max_width is not None:
            boxes = opened_to(volumes, opening(candidate), max_width)
        if colliding_points(candidate.pose, points, boxes, approach) <= tolerance:
            free.append(candidate)
    return free


def outside_box(
    points: np.ndarray, pose: np.ndarray, extent: np.ndarray, margin: float = 0.005
) -> np.ndarray:
    """The ``points`` outside the object's box (4x4 ``pose``, ``extent``) grown by ``margin``: the scene
    without the object itself, for grasps whose fingers may brush it on the way in."""
    if len(points) == 0:
        return points
    local = (points - pose[:3, 3]) @ pose[:3, :3]
    return points[~np.all(np.abs(local) <= np.asarray(extent) / 2 + margin, axis=1)]
