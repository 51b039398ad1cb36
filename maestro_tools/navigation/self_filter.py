"""The robot's own arm, and what its hand holds, filtered out of the depth the grid is built from.

The footprint disc keeps the base off the grid, but a mobile manipulator's arm reaches beyond it: an arm
stretched out, or a toy held up in front of the head camera, would be marked an obstacle in front of the
robot and block every path. The arm is modelled as capsules between consecutive frames of its chain (TF
at the depth image's stamp) and the hand as a sphere around the last frame (the tool centre point) big
enough for a held object; depth points inside either are dropped (neither hits nor clearing).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError


@dataclass(frozen=True)
class SelfFilterConfig:
    frames: tuple[str, ...]  # TF frames along the arm, from its mount to the TCP; () = no filter
    radius: float = 0.1  # m around each segment between consecutive frames (the links' thickness + noise)
    hand_radius: float = 0.18  # m around the last frame: the hand and an object it holds

    def __post_init__(self) -> None:
        if not (0 < self.radius <= 1.0 and 0 < self.hand_radius <= 1.0):
            raise InvalidArgumentError("self filter: radius and hand_radius must be in (0, 1] m")


def outside_robot(points: np.ndarray, chain: np.ndarray, radius: float, hand_radius: float) -> np.ndarray:
    """Mask of the (N, 3) ``points`` farther than ``radius`` from every segment of ``chain`` (K, 3: frame
    origins in order) and farther than ``hand_radius`` from its last point."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    chain = np.asarray(chain, dtype=np.float64).reshape(-1, 3)
    keep = np.ones(len(points), dtype=bool)
    if not len(chain) or not len(points):
        return keep
    keep &= np.linalg.norm(points - chain[-1], axis=1) > hand_radius
    for start, end in itertools.pairwise(chain):
        axis = end - start
        length2 = float(axis @ axis)
        t = np.zeros(len(points)) if length2 < 1e-12 else np.clip((points - start) @ axis / length2, 0.0, 1.0)
        nearest = start + t[:, None] * axis
        keep &= np.linalg.norm(points - nearest, axis=1) > radius
    return keep
