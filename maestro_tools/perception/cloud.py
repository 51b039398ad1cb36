"""Scene clouds from depth: what a camera sees in the base frame, and the same without the supports."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from maestro_tools.common.surfaces import SupportSurface, off_surfaces
from maestro_tools.perception.objects import CameraFrame

SUPPORT_CLEARANCE = 0.004  # m above a support surface's top below which points count as the surface


def depth_cloud(frame: CameraFrame, min_depth: float = 0.0) -> np.ndarray:
    """Every valid depth pixel of ``frame`` farther than ``min_depth`` from the camera, in the base frame.

    ``min_depth`` drops what a camera on the hand sees of the gripper itself.
    """
    return frame.base_points(frame.depth > min_depth)


def scene_points(
    points: np.ndarray, surfaces: Sequence[SupportSurface], limit: int = 20000, seed: int = 0
) -> np.ndarray:
    """Base-frame points without those on the declared support ``surfaces``, subsampled to ``limit``."""
    points = off_surfaces(points, surfaces, SUPPORT_CLEARANCE)
    if len(points) > limit:
        points = points[np.random.default_rng(seed).choice(len(points), limit, replace=False)]
    return points


def with_hidden_side(
    points: np.ndarray,
    viewpoint: np.ndarray,
    surfaces: Sequence[SupportSurface],
    depth: float = 0.08,
    step: float = 0.015,
) -> np.ndarray:
    """``points`` seen from ``viewpoint`` plus the space behind them along the camera's rays, ``depth``
    metres deep in ``step``s, outside the supports: a conservative stand-in for the objects' unseen backs."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    rays = points - np.asarray(viewpoint, dtype=np.float64)
    rays /= np.maximum(np.linalg.norm(rays, axis=1, keepdims=True), 1e-9)
    layers = [points + distance * rays for distance in np.arange(step, depth + 1e-9, step)]
    return off_surfaces(np.vstack([points, *layers]), surfaces, SUPPORT_CLEARANCE)
