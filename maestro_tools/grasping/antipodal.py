"""Antipodal grasps sampled on a point cloud with estimated normals (plain numpy + open3d normals).

For sampled contact points p1 with outward normal n1, the second contact p2 is the point that best
lies against -n1 within the friction cone (half-angle atan(mu)) and whose own normal opposes the
closing axis within the cone too; the pair must fit the gripper's opening. The TCP sits at the
contacts' midpoint, closing along p1->p2, approaching as close to straight down as the closing axis
allows. Score: how well both normals align with the closing axis. Needs both contact surfaces in the
cloud: single-view clouds of boxes often lack the far face, which is why top-down grasps exist too.
"""

from __future__ import annotations

import numpy as np
import open3d as o3d

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.grasping.top_down import GraspCandidate


def estimate_normals(points: np.ndarray, neighbours: int = 20) -> np.ndarray:
    """Unit normals, oriented away from the cloud's centroid."""
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    cloud.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(neighbours))
    normals = np.asarray(cloud.normals)
    outward = np.sum(normals * (points - points.mean(axis=0)), axis=1) < 0
    normals[outward] *= -1
    return normals


def antipodal_grasps(
    points: np.ndarray,
    *,
    max_width: float,
    pad_clearance: float,
    normals: np.ndarray | None = None,
    samples: int = 500,
    friction: float = 0.5,
    seed: int = 0,
    keep: int = 10,
) -> list[GraspCandidate]:
    """Up to ``keep`` antipodal grasps, best first (empty when no pair fits)."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) < 10 or not np.isfinite(points).all():
        raise InvalidArgumentError("antipodal sampling needs a finite (N >= 10, 3) point cloud")
    normals = estimate_normals(points) if normals is None else np.asarray(normals, dtype=np.float64)
    cone = np.cos(np.arctan(friction))
    lowest = float(points[:, 2].min()) + pad_clearance  # the pads stay off what the object stands on
    rng = np.random.default_rng(seed)
    candidates = []
    for index in rng.choice(len(points), size=min(samples, len(points)), replace=False):
        offsets = points - points[index]
        distances = np.linalg.norm(offsets, axis=1)
        fits = (distances > 0.005) & (distances < max_width - 0.005)
        if not fits.any():
            continue
        axes = offsets[fits] / distances[fits, None]
        first = axes @ -normals[index]  # p1's cone: the closing direction goes into the object
        second = np.sum(normals[fits] * axes, axis=1)  # p2's normal points along p1->p2 (out of the far side)
        quality = np.minimum(first, second)
        best = int(np.argmax(quality))
        if quality[best] < cone:
            continue
        partner = np.flatnonzero(fits)[best]
        closing = axes[best]
        down = np.array([0.0, 0.0, -1.0])
        approach = down - (down @ closing) * closing
        if np.linalg.norm(approach) < 0.3:  # a vertical closing axis cannot be approached from above
            continue
        approach /= np.linalg.norm(approach)
        x = np.cross(closing, approach)
        if x[0] < 0:  # the 180-degree twin keeps the wrist nearer its home orientation
            x, closing = -x, -closing
        pose = np.eye(4)
        pose[:3, :3] = np.stack([x, closing, approach], axis=1)
        pose[:3, 3] = (points[index] + points[partner]) / 2
        pose[2, 3] = max(pose[2, 3], lowest)
        candidates.append(
            GraspCandidate(pose, float(distances[partner]) + 0.01, float(quality[best]), "antipodal")
        )
    candidates.sort(key=lambda c: -c.score)
    chosen: list[GraspCandidate] = []
    for candidate in candidates:  # keep grasps at least 1 cm apart
        if all(np.linalg.norm(candidate.pose[:3, 3] - c.pose[:3, 3]) > 0.01 for c in chosen):
            chosen.append(candidate)
        if len(chosen) == keep:
            break
    return chosen
