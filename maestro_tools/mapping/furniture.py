"""Furniture in the semantic map: big things seen a part at a time (a table's skirt from the floor, part
of its top from above). A sighting whose box overlaps a piece of furniture's box joins it, and the box
is fitted to the surface points of all its sightings, kept on a voxel grid in memory; where a detection
came without a mask (and after a restart) a box's corners stand in for its points. A sighting of the
whole thing (its box the size of the map's) is averaged in instead: the union would grow with every
error in the robot's pose."""

from __future__ import annotations

import numpy as np

from maestro_tools.mapping.entries import MapEntry
from maestro_tools.perception.objects import box_pose


def box_corners(position: np.ndarray, rotation: np.ndarray, extent: np.ndarray) -> np.ndarray:
    """The box's 8 corners (8x3)."""
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    return np.asarray(position) + (signs * (np.asarray(extent) / 2)) @ np.asarray(rotation).T


def boxes_overlap(
    position: np.ndarray,
    rotation: np.ndarray,
    extent: np.ndarray,
    other_position: np.ndarray,
    other_rotation: np.ndarray,
    other_extent: np.ndarray,
    slack: float = 0.0,
) -> bool:
    """Whether the other box reaches into this one (grown by ``slack`` m) along this box's axes."""
    local = (box_corners(other_position, other_rotation, other_extent) - position) @ rotation
    half = np.asarray(extent, dtype=np.float64) / 2 + slack
    return not (np.any(local.min(axis=0) > half) or np.any(local.max(axis=0) < -half))


def voxel_points(points: np.ndarray, voxel: float, limit: int) -> np.ndarray:
    """One point per ``voxel`` m cell (the first), at most ``limit`` (evenly thinned beyond)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    _, first = np.unique(np.floor(points / voxel).astype(np.int64), axis=0, return_index=True)
    kept = points[np.sort(first)]
    return kept if len(kept) <= limit else kept[np.linspace(0, len(kept) - 1, limit).astype(int)]


def is_furniture(entry: MapEntry, extent: np.ndarray, min_size: float) -> bool:
    """Whether the entry or a sighting of ``extent`` is big enough to be seen a part at a time."""
    return max(entry.size, float(np.max(extent))) >= min_size


def seen_whole(entry: MapEntry, extent: np.ndarray, tolerance: float = 0.15, slack: float = 0.03) -> bool:
    """Whether a sighting's box is the entry's size (sides sorted, within ``tolerance`` of them plus
    ``slack`` m): the whole thing seen again, where a difference in place is the error of a pose."""
    own = np.sort(np.asarray(entry.extent[:2], dtype=np.float64))
    seen = np.sort(np.asarray(extent[:2], dtype=np.float64))
    return bool(
        np.all(np.abs(seen - own) <= tolerance * own + slack)
        and abs(float(extent[2]) - float(entry.extent[2])) <= tolerance * float(entry.extent[2]) + slack
    )


def overlaps(
    entry: MapEntry, position: np.ndarray, rotation: np.ndarray, extent: np.ndarray, slack: float
) -> bool:
    return boxes_overlap(entry.position, entry.rotation, entry.extent, position, rotation, extent, slack)


def grow(
    entry: MapEntry, position: np.ndarray, rotation: np.ndarray, extent: np.ndarray,
    points: np.ndarray | None, voxel: float, limit: int,
) -> None:  # fmt: skip
    """Fit the entry's box to its surface points and a sighting's (``points``, else its box's corners)."""
    own = (
        entry.points
        if entry.points is not None
        else box_corners(entry.position, entry.rotation, entry.extent)
    )
    seen = points if points is not None and len(points) else box_corners(position, rotation, extent)
    entry.points = voxel_points(np.concatenate([own, seen]), voxel, limit)
    pose, entry.extent = box_pose(entry.points)
    entry.position, entry.rotation = pose[:3, 3].copy(), pose[:3, :3].copy()
