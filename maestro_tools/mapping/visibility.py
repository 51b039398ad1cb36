"""Which map objects a camera should have seen: in its view, in depth range, and not hidden (plain numpy).

An object counts as seen-if-there when its centre projects inside the image (away from the border), lies
between ``near`` and ``far`` in front of the camera, and the depth image there reaches at least the
object's front: a depth reading much nearer than that means something (an arm, another object) hides it,
and a missing reading tells nothing. Those are the places where not detecting an object is evidence
that it is gone.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from maestro_tools.common.conversions import project_points
from maestro_tools.mapping.entries import CameraView


class Sight(IntEnum):
    OUT_OF_VIEW = 0
    HIDDEN = 1  # in view, but something nearer covers it, or no depth there
    VISIBLE = 2


def expected_sight(
    view: CameraView,
    positions: np.ndarray,
    sizes: np.ndarray,
    *,
    near: float = 0.1,
    far: float = 3.0,
    margin: int = 8,
    tolerance: float = 0.02,
    window: int = 2,
) -> np.ndarray:
    """Sight per object (int array of ``Sight`` values) for (N, 3) fixed-frame ``positions`` whose
    largest sizes are ``sizes`` (metres)."""
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    out = np.full(len(positions), Sight.OUT_OF_VIEW, dtype=np.int64)
    if not len(positions):
        return out
    pixels, z = project_points(positions, view.intrinsics, view.pose)
    u, v = pixels.T
    depth = np.asarray(view.depth)
    height, width = depth.shape
    ahead = (z > near) & (z < far)
    inside = ahead & (u >= margin) & (u < width - margin) & (v >= margin) & (v < height - margin)
    for i in np.flatnonzero(inside):
        col, row = int(u[i]), int(v[i])
        patch = depth[max(0, row - window) : row + window + 1, max(0, col - window) : col + window + 1]
        valid = patch[np.isfinite(patch) & (patch > 0)]
        if valid.size == 0:
            out[i] = Sight.HIDDEN
            continue
        front = z[i] - sizes[i] / 2 - tolerance  # the nearest its surface can be, with some slack
        out[i] = Sight.VISIBLE if float(np.median(valid)) >= front else Sight.HIDDEN
    return out
