"""What the semantic map holds (objects and their views) and what updates it (sightings), plain Python.

Positions are in the map's fixed frame (``world`` for a cell, ``map`` for a mobile robot), metres;
times are seconds of the graph's clock (simulated time in simulation).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=4096)
def words(label: str) -> frozenset[str]:
    """The label's words, lower case, without "the" and "a" (as the detector matches labels)."""
    return frozenset(w for w in label.lower().split() if w not in ("the", "a", "an"))


@lru_cache(maxsize=65536)
def label_matches(requested: str, label: str) -> bool:
    """Whether ``label`` answers ``requested``: equal in any case, or containing all its words ("ball"
    finds "tennis ball")."""
    wanted = words(requested)
    return requested.strip().lower() == label.strip().lower() or (bool(wanted) and wanted <= words(label))


def head_noun(label: str) -> str:
    """The label's last word, lower case: what it names ("ball" of "tennis ball", "handle" of "door
    handle")."""
    parts = label.lower().split()
    return parts[-1] if parts else ""


def same_kind(a: str, b: str) -> bool:
    """Two labels that may name one object: one's words contain the other's and both name the same thing
    ("ball", "tennis ball"; not "door", "door handle": a part of it)."""
    return (label_matches(a, b) or label_matches(b, a)) and head_noun(a) == head_noun(b)


@dataclass(frozen=True)
class View:
    """One sighting kept as a view: which camera saw the object, from where, how well, and a crop."""

    camera: str
    stamp: float
    viewpoint: np.ndarray  # (3,) camera position in the fixed frame
    box: tuple[int, int, int, int]  # x, y, width, height in the camera's pixels
    score: float
    crop: bytes = b""  # PNG of the box (small), empty when no colour image came with the sighting

    @property
    def quality(self) -> float:
        """Score times how big the object appeared (up to 64 x 64 pixels counts fully)."""
        return float(self.score) * min(1.0, self.box[2] * self.box[3] / 4096.0)


@dataclass
class MapEntry:
    """One object in the map."""

    id: str
    label: str
    position: np.ndarray  # (3,) centre, fixed frame
    rotation: np.ndarray  # (3, 3) axes, fixed frame
    extent: np.ndarray  # (3,) size along the axes, metres
    confidence: float  # 0..1
    observations: int
    first_seen: float
    last_seen: float
    camera: str  # camera of the latest sighting
    version: int  # the map's version when this entry last changed
    views: list[View] = field(default_factory=list)
    tags: tuple[str, ...] = ()
    points: np.ndarray | None = None  # furniture: its seen surface (N x 3, voxels), in memory only

    @property
    def size(self) -> float:
        return float(np.max(self.extent)) if len(self.extent) else 0.0

    def keep_views(self, new: Iterable[View], limit: int) -> None:
        """Add ``new`` views and keep the ``limit`` best (quality, then newest)."""
        views = [*self.views, *new]
        views.sort(key=lambda v: (v.quality, v.stamp), reverse=True)
        self.views = views[:limit]


@dataclass(frozen=True)
class Sighting:
    """One detection lifted into the fixed frame."""

    label: str
    score: float
    position: np.ndarray  # (3,)
    rotation: np.ndarray  # (3, 3)
    extent: np.ndarray  # (3,)
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    crop: bytes = b""
    points: np.ndarray | None = None  # (N, 3) the object's seen surface, fixed frame, where a mask allowed


@dataclass(frozen=True)
class CameraView:
    """What a camera saw at one instant, for negative evidence: depth, intrinsics and its pose."""

    depth: np.ndarray  # (H, W) float32 metres, 0 or NaN where unknown
    intrinsics: np.ndarray  # 3x3
    pose: np.ndarray  # 4x4 optical frame in the fixed frame


@dataclass(frozen=True)
class Observation:
    """One detection call: the labels looked for, what was found, and the camera's view."""

    camera: str
    stamp: float
    labels: Sequence[str]  # asked for; empty = everything the detector can name
    sightings: Sequence[Sighting]
    view: CameraView | None = None  # None: no negative evidence from this observation

    def looked_for(self, label: str) -> bool:
        """Whether this call would have reported an object labelled ``label``."""
        return not self.labels or any(same_kind(asked, label) for asked in self.labels)


def describe(entries: Sequence[MapEntry], now: float, frame: str = "world", limit: int = 40) -> str:
    """Compact text for a prompt: one line per object, most recently seen first, ages from ``now``."""
    if not entries:
        return f"Semantic map ({frame} frame): empty"
    lines = [f"Semantic map ({frame} frame, {len(entries)} objects; conf = confidence 0..1):"]
    for e in sorted(entries, key=lambda e: -e.last_seen)[:limit]:
        x, y, z = e.position
        size = "x".join(f"{s * 100:.0f}" for s in e.extent)
        lines.append(
            f"- {e.id} {e.label!r} at ({x:.3f}, {y:.3f}, {z:.3f}) m, {size} cm, conf {e.confidence:.2f}, "
            f"seen {e.observations}x, last {max(0.0, now - e.last_seen):.0f} s ago by the {e.camera} camera"
        )
    if len(entries) > limit:
        lines.append(f"... and {len(entries) - limit} more (query by label or near a point)")
    return "\n".join(lines)
