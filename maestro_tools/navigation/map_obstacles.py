"""Furniture from the semantic map as keep-out footprints in the navigation grid.

The depth camera loses what it cannot see from close by: a table top above the camera's view once the
base is next to it, leaving only thin legs in the grid, so a path may run under the top's edge. The
semantic map remembers each piece of furniture's box from every view (``mapping/furniture.py``); its
footprint, where the box spans the robot's height band, is an obstacle the grid keeps. Plain numpy here;
``MapObstacleSource`` (``mapping/furniture_source.py``) asks the mapper without blocking the control loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from maestro_tools.mapping.furniture_source import MapObstacleConfig


@dataclass(frozen=True, eq=False)  # compared by identity: a refresh makes new ones
class Footprint:
    """An oriented rectangle on the floor: centre (x, y), unit axes (2x2, columns) and half sides."""

    label: str
    centre: np.ndarray
    axes: np.ndarray
    half: np.ndarray

    def contains(self, xy: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Which of the (N, 2) points lie inside, grown by ``margin`` m."""
        local = (np.asarray(xy, dtype=np.float64).reshape(-1, 2) - self.centre) @ self.axes
        return np.all(np.abs(local) <= self.half + margin, axis=1)


def footprints(
    objects: Sequence[tuple[str, np.ndarray, np.ndarray]],
    floor: float,
    band: tuple[float, float],
    config: MapObstacleConfig,
) -> list[Footprint]:
    """Footprints of the (label, 4x4 pose, extent) boxes that are furniture and span the height band
    (``band`` m above ``floor``: what the robot's body meets)."""
    kept = []
    for label, pose, extent in objects:
        if not config.keeps(label, extent):
            continue
        corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) * extent / 2
        world = corners @ pose[:3, :3].T + pose[:3, 3]
        low, high = world[:, 2].min() - floor, world[:, 2].max() - floor
        if high < band[0] or low > band[1]:
            continue
        yaw = float(np.arctan2(pose[1, 0], pose[0, 0]))
        axes = np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]])
        # The footprint of the (possibly tilted) box along its own yaw.
        local = (world[:, :2] - pose[:2, 3]) @ axes
        kept.append(Footprint(label, pose[:2, 3].copy(), axes, np.abs(local).max(axis=0)))
    return kept
