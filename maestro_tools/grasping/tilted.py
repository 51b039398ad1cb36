"""Tilted grasps from above (plain numpy): for an arm that cannot point its gripper straight down at an
object, e.g. a table top level with or above its shoulder.

The gripper closes across one of the object's horizontal box axes (or, for a round object, across the
line from the arm's base to it) and approaches from above, tilted by one of the profile's grasp tilts
away from the arm's base (the base frame's origin): it reaches over the object's near side. The TCP goes
``finger_depth`` past the object's surface along the approach (for a compact object, its inscribed
ellipsoid's surface: a ball's box corner would leave it at the pads' tips, where it rolls out), never
so low that the finger pads touch what the object stands on. An object as wide as the opening (a plush
toy) is grasped without the usual clearance, squeezed. Of the two equivalent rolls about the approach,
the one whose straight-down version keeps the TCP x axis nearest ``down_yaw`` (the wrist's preferred
yaw) is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from maestro_tools.grasping.top_down import GraspCandidate, checked_object

UP = np.array([0.0, 0.0, 1.0])
ROUND = 0.15  # a box whose horizontal sides differ by at most this fraction is round
COMPACT = 1.5  # a box whose longest side is at most this times its shortest is held as a ball
SAME_AXIS = np.cos(np.radians(10.0))  # closing directions nearer than this are one


def closing_axes(object_pose: np.ndarray, extent: np.ndarray) -> list[tuple[np.ndarray, float, int]]:
    """(horizontal closing direction, opening across the object, rank) for the box's horizontal axes,
    narrow side first, plus the direction across the line from the base when the object is round."""
    axes: list[tuple[np.ndarray, float, int]] = []
    for rank, axis in enumerate(sorted(range(2), key=lambda k: extent[k])):
        closing = object_pose[:3, axis].copy()
        closing[2] = 0.0
        if np.linalg.norm(closing) > 1e-6:
            axes.append((closing / np.linalg.norm(closing), float(extent[axis]), rank))
    centre = object_pose[:2, 3]
    if abs(extent[0] - extent[1]) <= ROUND * max(extent[0], extent[1]) and np.linalg.norm(centre) > 1e-6:
        across = np.array([-centre[1], centre[0], 0.0]) / np.linalg.norm(centre)
        if all(abs(float(across @ c)) < SAME_AXIS for c, _, _ in axes):
            axes.insert(0, (across, float(max(extent[0], extent[1])), 0))
    return axes


def tilted_grasps(
    object_pose: np.ndarray,
    extent: np.ndarray,
    max_width: float,
    finger_depth: float,
    pad_clearance: float,
    tilts: Sequence[float],
    down_yaw: float = 0.0,
    clearance: float = 0.01,
) -> list[GraspCandidate]:
    """Grasps tilted ``tilts`` (rad from vertical) away from the base, best first (across the narrow side,
    straight out from the base, less tilted); empty if the object is wider than ``max_width``."""
    object_pose, extent = checked_object(object_pose, extent)
    centre = object_pose[:3, 3]
    bottom = centre[2] - extent[2] / 2
    preferred = np.array([np.cos(down_yaw), np.sin(down_yaw), 0.0])
    radial = np.array([centre[0], centre[1], 0.0]) / max(float(np.linalg.norm(centre[:2])), 1e-6)
    sides = sorted(float(e) for e in extent)
    ball = sides[2] <= COMPACT * sides[0]  # sides alike (a ball seen in part): held at its middle
    candidates = []
    for closing, across, rank in closing_axes(object_pose, extent):
        if across > max_width:
            continue
        width = min(across + clearance, max_width)  # a soft object as wide as the opening is squeezed
        away = np.cross(UP, closing)  # horizontal, across the closing direction
        if away @ centre < 0:  # reach over the object's near side, away from the arm's base
            away = -away
        if np.cross(closing, -UP) @ preferred < 0:  # the roll whose top-down x is nearer down_yaw
            closing = -closing
        for tilt in tilts:
            approach = np.sin(tilt) * away - np.cos(tilt) * UP
            along = [float(approach @ object_pose[:3, k]) for k in range(3)]
            if ball:  # the surface along the approach: a ball's radius, not its box's corner
                half = float(np.sqrt(sum((a * e / 2) ** 2 for a, e in zip(along, extent, strict=True))))
            else:
                half = sum(abs(a) * e / 2 for a, e in zip(along, extent, strict=True))
            position = centre - approach * (half - min(finger_depth, half))
            position[2] = max(position[2], bottom + pad_clearance * np.cos(tilt))
            pose = np.eye(4)
            pose[:3, :3] = np.stack([np.cross(closing, approach), closing, approach], axis=1)
            pose[:3, 3] = position
            score = 0.9 * (1.0 - 0.2 * rank) * (1.0 - 0.5 * width / max_width) * (1.0 - 0.3 * tilt / np.pi)
            score *= 0.5 + 0.5 * max(0.0, float(away @ radial))  # reaching straight out from the base first
            candidates.append(GraspCandidate(pose, width, float(score), "tilted"))
    return sorted(candidates, key=lambda c: -c.score)
