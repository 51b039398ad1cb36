"""Grasp collision checks against the observed scene: the open Panda gripper's fingers and hand, swept
along the approach from the pre-grasp to the grasp, must not contain scene points.

Volumes are boxes in the TCP frame (z = approach, y = closing direction), measured from the MuJoCo Panda
with the gripper fully open, as it approaches. The scene is a depth cloud in the base frame with the
table (z near 0) removed (``perception.cloud.scene_points``); a few stray points are tolerated as depth
noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from maestro_tools.grasping.top_down import GraspCandidate

# (min, max) corners in the TCP frame, metres, gripper open to 0.08 m.
FINGERS = (
    (np.array([-0.011, 0.038, -0.047]), np.array([0.011, 0.067, 0.010])),
    (np.array([-0.011, -0.067, -0.047]), np.array([0.011, -0.038, 0.010])),
)
HAND = (np.array([-0.032, -0.106, -0.131]), np.array([0.032, 0.102, -0.032]))


def colliding_points(
    pose: np.ndarray, points: np.ndarray, approach: float = 0.1, margin: float = 0.003
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
    for low, high in (*FINGERS, HAND):
        swept_low = low - side - np.array([0.0, 0.0, approach])
        inside = np.all((local >= swept_low) & (local <= high + side), axis=1)
        count += int(inside.sum())
    return count


def collision_free(
    candidates: Sequence[GraspCandidate], points: np.ndarray, approach: float = 0.1, tolerance: int = 5
) -> list[GraspCandidate]:
    """The candidates whose approach and grasp leave at most ``tolerance`` scene points in the gripper."""
    return [c for c in candidates if colliding_points(c.pose, points, approach) <= tolerance]
