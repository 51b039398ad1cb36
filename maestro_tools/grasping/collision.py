"""Grasp collision checks against the observed scene: the open gripper's fingers and hand, swept
along the approach from the pre-grasp to the grasp, must not contain scene points.

Volumes are boxes in the TCP frame (z = approach, y = closing direction) from the robot profile's
gripper (``GripperSpec.volumes``), with the gripper fully open, as it approaches. The scene is a depth
cloud in the base frame off the support surfaces (``perception.cloud.scene_points``); a few stray points
are tolerated as depth noise.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def collision_free(
    candidates: Sequence[GraspCandidate],
    points: np.ndarray,
    volumes: Sequence[Box],
    approach: float = 0.1,
    tolerance: int = 5,
) -> list[GraspCandidate]:
    """The candidates whose approach and grasp leave at most ``tolerance`` scene points in the gripper."""
    return [c for c in candidates if colliding_points(c.pose, points, volumes, approach) <= tolerance]
