"""Declared support surfaces (a table, a shelf, the floor): boxes in the base frame.

They are deployment facts, not robot facts, so they come from a node parameter: motion and grasp
reachability plan against them, and scene clouds drop the points lying on them. The parameter is a
list of strings ``"name cx cy cz hx hy hz"`` (box centre and half sizes, metres, base frame), e.g.
``"table 0.3 0.0 -0.375 0.65 0.7 0.375"``: a table whose top is at z = 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError

SURFACE_FORMAT = "'name cx cy cz hx hy hz' (box centre and half sizes in metres, base frame)"


@dataclass(frozen=True)
class SupportSurface:
    name: str
    center: tuple[float, float, float]
    half_size: tuple[float, float, float]

    def __post_init__(self) -> None:
        if not all(np.isfinite(self.center)) or not all(h > 0 for h in self.half_size):
            raise InvalidArgumentError(
                f"support surface {self.name!r}: finite centre and half sizes > 0 needed"
            )

    @property
    def top(self) -> float:
        return self.center[2] + self.half_size[2]

    def on_or_in(self, points: np.ndarray, clearance: float) -> np.ndarray:
        """Mask of ``points`` (N,3) inside the box grown by ``clearance`` (its faces, as a camera sees)."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        center, half = np.asarray(self.center), np.asarray(self.half_size) + clearance
        return np.all(np.abs(points - center) <= half, axis=1)

    def covers(self, x: float, y: float) -> bool:
        """Whether the surface's footprint (its box seen from above) holds the point (x, y)."""
        return abs(x - self.center[0]) <= self.half_size[0] and abs(y - self.center[1]) <= self.half_size[1]

    def to_parameter(self) -> str:
        return " ".join([self.name, *(f"{v:g}" for v in (*self.center, *self.half_size))])


def parse_surfaces(entries: Iterable[str]) -> tuple[SupportSurface, ...]:
    """Surfaces from the parameter's strings; a malformed one raises naming the expected format."""
    surfaces = []
    for entry in entries:
        if not entry.strip():
            continue
        fields = entry.split()
        try:
            if len(fields) != 7:
                raise ValueError
            values = [float(v) for v in fields[1:]]
        except ValueError:
            raise InvalidArgumentError(
                f"support surface {entry!r} is malformed; expected {SURFACE_FORMAT}"
            ) from None
        surfaces.append(SupportSurface(fields[0], tuple(values[:3]), tuple(values[3:])))  # type: ignore[arg-type]
    names = [s.name for s in surfaces]
    if len(set(names)) != len(names):
        raise InvalidArgumentError(f"support surface names must be unique; got {names}")
    return tuple(surfaces)


def off_surfaces(
    points: np.ndarray, surfaces: Sequence[SupportSurface], clearance: float = 0.004
) -> np.ndarray:
    """``points`` without those on or in any of ``surfaces`` (and without non-finite points)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    keep = np.isfinite(points).all(axis=1)
    for surface in surfaces:
        keep &= ~surface.on_or_in(points, clearance)
    return points[keep]


def tops_beneath(point: np.ndarray, surfaces: Sequence[SupportSurface]) -> list[float]:
    """The tops of the ``surfaces`` whose footprint holds ``point``'s x, y and that lie below it."""
    x, y, z = np.asarray(point, dtype=np.float64)[:3]
    return [s.top for s in surfaces if s.covers(x, y) and s.top < z]
