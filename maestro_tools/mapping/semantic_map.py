"""``SemanticMap``: merge sightings into objects, forget what should be seen and is not, answer queries.

Merging: a sighting joins the nearest unclaimed object whose label names the same kind ("ball" and
"tennis ball") within ``max(merge_distance, merge_size_factor * size)`` of it, where size is the larger
of the two's largest extents: big things merge over larger distances, small neighbours stay apart. The
position and extent follow a running mean whose weight is capped (``max_weight``), so a nudged object
re-converges; the more specific label wins. Furniture (``hull_min_size`` and larger) is seen a part at a
time (a table's skirt from the floor, part of its top from above): a sighting that overlaps its box joins
it, and the box is fitted to the surface points of all its sightings (their boxes' corners where a
detection came without a mask, and after a restart). After an update, objects of the same kind that now
overlap are folded into one (duplicates from two cameras). An object that moved far appears as a new
one; negative evidence then removes the stale one.

Negative evidence: after a detection call, each object that call looked for (its labels, or all) and
did not report, that lies in the camera's view and that the depth image shows unhidden
(``visibility.expected_sight``), loses ``miss_decay`` confidence; below ``min_confidence`` it is
dropped. Every change bumps the map's version; each changed object records it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError, NotFoundError
from maestro_tools.mapping import furniture
from maestro_tools.mapping.entries import (
    MapEntry,
    Observation,
    Sighting,
    View,
    label_matches,
    same_kind,
)
from maestro_tools.mapping.furniture import is_furniture, overlaps, seen_whole, voxel_points
from maestro_tools.mapping.store import MapStore
from maestro_tools.mapping.visibility import Sight, expected_sight


@dataclass(frozen=True)
class MapConfig:
    merge_distance: float = 0.05  # m: sightings this close to an object of the same kind merge
    merge_size_factor: float = 0.5  # ... or closer than this times the larger object's size
    max_weight: int = 10  # cap of the running mean's weight (a moved object re-converges)
    max_views: int = 3  # views kept per object
    miss_decay: float = 0.34  # confidence lost per unhidden, in-view miss
    min_confidence: float = 0.05  # below this an object is dropped
    max_objects: int = 10000  # the least confident, oldest objects go first beyond this
    hull_min_size: float = 0.25  # m: objects this large get the box of all their sightings' surface points
    hull_voxel: float = 0.02  # m: the surface points kept per furniture object, one per cell this size
    hull_points: int = 4000  # ... and at most this many

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be {rule}, got {value}"
            for name, value, rule, ok in (
                ("merge_distance", self.merge_distance, "> 0", self.merge_distance > 0),
                ("merge_size_factor", self.merge_size_factor, ">= 0", self.merge_size_factor >= 0),
                ("max_weight", self.max_weight, ">= 1", self.max_weight >= 1),
                ("max_views", self.max_views, ">= 0", self.max_views >= 0),
                ("miss_decay", self.miss_decay, "in (0, 1]", 0 < self.miss_decay <= 1),
                ("min_confidence", self.min_confidence, "in [0, 1)", 0 <= self.min_confidence < 1),
                ("max_objects", self.max_objects, ">= 1", self.max_objects >= 1),
                ("hull_min_size", self.hull_min_size, "> 0", self.hull_min_size > 0),
                ("hull_voxel", self.hull_voxel, "> 0", self.hull_voxel > 0),
                ("hull_points", self.hull_points, ">= 8", self.hull_points >= 8),
            )
            if not ok
        ]
        if problems:
            raise InvalidArgumentError("semantic map: " + "; ".join(problems))


@dataclass
class UpdateReport:
    added: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    decayed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)  # looked for, in view, but covered: kept as they were


class SemanticMap:
    def __init__(self, store: MapStore, config: MapConfig | None = None) -> None:
        self.store, self.config = store, config or MapConfig()
        entries, self.version, self._next_id = store.load()
        self._entries: dict[str, MapEntry] = {e.id: e for e in entries}
        self._lock = threading.RLock()
        self._rows: tuple[list[MapEntry], np.ndarray, np.ndarray, dict[str, int]] | None = None

    def _table(self) -> tuple[list[MapEntry], np.ndarray, np.ndarray, dict[str, int]]:
        """Entries with their positions (N, 3) and sizes (N,) as arrays, for vectorised distances; rebuilt
        after objects come or go, patched in place when one moves (``_moved``)."""
        if self._rows is None:
            entries = list(self._entries.values())
            positions = np.array([e.position for e in entries], dtype=np.float64).reshape(-1, 3)
            sizes = np.array([e.size for e in entries], dtype=np.float64)
            self._rows = (entries, positions, sizes, {e.id: k for k, e in enumerate(entries)})
        return self._rows

    def _moved(self, entry: MapEntry) -> None:
        if self._rows is not None and entry.id in self._rows[3]:
            row = self._rows[3][entry.id]
            self._rows[1][row], self._rows[2][row] = entry.position, entry.size

    # -- reading -------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    def get(self, object_id: str) -> MapEntry:
        with self._lock:
            if object_id not in self._entries:
                known = ", ".join(list(self._entries)[:20]) or "none"
                raise NotFoundError(f"no object {object_id!r} in the map; ids: {known}")
            return self._entries[object_id]

    def labels(self) -> list[str]:
        with self._lock:
            return sorted({e.label for e in self._entries.values()})

    def query(
        self,
        label: str = "",
        object_id: str = "",
        center: np.ndarray | None = None,
        radius: float = 0.0,
        box: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[MapEntry]:
        """Objects passing every filter given: label (by words), id, within ``radius`` of ``center``,
        inside the axis-aligned ``box`` (min, max). Nearest first with a centre, else most confident."""
        with self._lock:
            entries, positions, _, _ = self._table()
            keep = np.ones(len(entries), dtype=bool)
            if label:
                keep &= np.fromiter((label_matches(label, e.label) for e in entries), bool, len(entries))
            if object_id:
                keep &= np.fromiter((e.id == object_id for e in entries), bool, len(entries))
            if box is not None:
                low, high = (np.asarray(b, dtype=np.float64) for b in box)
                keep &= np.all((positions >= low) & (positions <= high), axis=1)
            if center is not None:
                distance = np.linalg.norm(positions - np.asarray(center, dtype=np.float64), axis=1)
                keep &= distance <= radius
                return [entries[k] for k in np.flatnonzero(keep)[np.argsort(distance[keep], kind="stable")]]
            found = [entries[k] for k in np.flatnonzero(keep)]
            return sorted(found, key=lambda e: (-e.confidence, -e.last_seen))

    # -- writing -------------------------------------------------------------------------------------
    def _new_id(self) -> str:
        object_id = f"obj{self._next_id}"
        self._next_id += 1
        return object_id

    def integrate(self, observation: Observation) -> UpdateReport:
        """Merge an observation's sightings and apply its negative evidence; one store transaction."""
        report = UpdateReport()
        with self._lock:
            version = self.version + 1
            changed: dict[str, MapEntry] = {}
            claimed: set[str] = set()
            for sighting in sorted(observation.sightings, key=lambda s: -s.score):
                entry = self._claim(sighting, claimed)
                view = View(
                    observation.camera,
                    observation.stamp,
                    observation.view.pose[:3, 3].copy() if observation.view else np.zeros(3),
                    sighting.box,
                    float(sighting.score),
                    sighting.crop,
                )
                if entry is None:
                    entry = self._add(sighting, observation, view, version)
                    report.added.append(entry.id)
                else:
                    self._merge(entry, sighting, observation, view, version)
                    report.merged.append(entry.id)
                claimed.add(entry.id)
                changed[entry.id] = entry
                for duplicate in self._fold(entry):
                    report.removed.append(duplicate)
                    changed.pop(duplicate, None)
            if observation.view is not None:
                self._negative(observation, claimed, version, report, changed)
            report.removed += self._trim()
            for gone in report.removed:
                changed.pop(gone, None)
            if changed or report.removed:
                self.version = version
                self.store.write(list(changed.values()), report.removed, version, self._next_id)
        return report

    def _claim(self, sighting: Sighting, claimed: set[str]) -> MapEntry | None:
        """The nearest unclaimed object of the same kind within the merge distance, or None."""
        entries, positions, sizes, _ = self._table()
        if not entries:
            return None
        size = float(np.max(sighting.extent)) if len(sighting.extent) else 0.0
        distance = np.linalg.norm(positions - sighting.position, axis=1)
        reach = np.maximum(
            self.config.merge_distance, self.config.merge_size_factor * np.maximum(sizes, size)
        )
        for k in np.flatnonzero(distance <= reach)[np.argsort(distance[distance <= reach], kind="stable")]:
            entry = entries[k]
            if entry.id not in claimed and same_kind(entry.label, sighting.label):
                return entry
        # Furniture: a part seen elsewhere on its box (boxes whose centres are farther apart than their
        # sizes together cannot overlap).
        large = (np.maximum(sizes, size) >= self.config.hull_min_size) & (distance <= sizes + size)
        slack = self.config.merge_distance
        for k in np.flatnonzero(large)[np.argsort(distance[large], kind="stable")]:
            entry = entries[k]
            if (
                entry.id not in claimed
                and same_kind(entry.label, sighting.label)
                and overlaps(entry, sighting.position, sighting.rotation, sighting.extent, slack)
            ):
                return entry
        return None

    def _add(self, sighting: Sighting, observation: Observation, view: View, version: int) -> MapEntry:
        entry = MapEntry(
            id=self._new_id(),
            label=sighting.label,
            position=np.asarray(sighting.position, dtype=np.float64).copy(),
            rotation=np.asarray(sighting.rotation, dtype=np.float64).copy(),
            extent=np.asarray(sighting.extent, dtype=np.float64).copy(),
            confidence=float(np.clip(0.6 * sighting.score, self.config.min_confidence, 1.0)),
            observations=1,
            first_seen=observation.stamp,
            last_seen=observation.stamp,
            camera=observation.camera,
            version=version,
        )
        if sighting.points is not None and len(sighting.points) and entry.size >= self.config.hull_min_size:
            entry.points = voxel_points(sighting.points, self.config.hull_voxel, self.config.hull_points)
        entry.keep_views([view], self.config.max_views)
        self._entries[entry.id] = entry
        self._rows = None
        return entry

    def _merge(
        self, entry: MapEntry, sighting: Sighting, observation: Observation, view: View, version: int
    ) -> None:
        weight = min(entry.observations, self.config.max_weight)
        if not self._grow(entry, sighting.position, sighting.rotation, sighting.extent, sighting.points):
            moved = (weight * entry.position + sighting.position) / (weight + 1)
            if entry.points is not None:
                entry.points = entry.points + (moved - entry.position)
            entry.position = moved
            entry.extent = (weight * entry.extent + sighting.extent) / (weight + 1)
            entry.rotation = np.asarray(sighting.rotation, dtype=np.float64).copy()
        entry.confidence = float(min(1.0, entry.confidence + (1.0 - entry.confidence) * 0.5 * sighting.score))
        entry.observations += 1
        entry.first_seen = min(entry.first_seen, observation.stamp)
        entry.last_seen = max(entry.last_seen, observation.stamp)
        entry.camera = observation.camera
        if len(sighting.label.split()) > len(entry.label.split()):  # the more specific name
            entry.label = sighting.label
        entry.version = version
        entry.keep_views([view], self.config.max_views)
        self._moved(entry)

    def _grow(self, entry: MapEntry, position: np.ndarray, rotation: np.ndarray, extent: np.ndarray,
              points: np.ndarray | None) -> bool:  # fmt: skip
        """Grow a piece of furniture over an overlapping sighting; False otherwise (the caller averages)."""
        config = self.config
        if (
            not is_furniture(entry, extent, config.hull_min_size)
            or seen_whole(entry, extent)  # averaged: sightings of the whole thing disagree only by error
            or not overlaps(entry, position, rotation, extent, config.merge_distance)
        ):
            return False
        furniture.grow(entry, position, rotation, extent, points, config.hull_voxel, config.hull_points)
        return True

    def _fold(self, entry: MapEntry) -> list[str]:
        """Fold objects of the same kind that a sighting at ``entry`` would merge with into it; returns the
        removed ids."""
        entries, positions, sizes, _ = self._table()
        distance = np.linalg.norm(positions - entry.position, axis=1)
        reach = np.maximum(
            self.config.merge_distance, self.config.merge_size_factor * np.maximum(sizes, entry.size)
        )
        removed = []
        for k in np.flatnonzero(distance <= reach):
            other = entries[k]
            if other.id == entry.id or not same_kind(other.label, entry.label):
                continue
            total = entry.observations + other.observations
            if not self._grow(entry, other.position, other.rotation, other.extent, other.points):
                entry.position = (
                    entry.observations * entry.position + other.observations * other.position
                ) / total
            entry.observations = total
            entry.confidence = max(entry.confidence, other.confidence)
            entry.first_seen = min(entry.first_seen, other.first_seen)
            entry.keep_views(other.views, self.config.max_views)
            del self._entries[other.id]
            removed.append(other.id)
        if removed:
            self._rows = None
        return removed

    def _negative(
        self,
        observation: Observation,
        claimed: set[str],
        version: int,
        report: UpdateReport,
        changed: dict[str, MapEntry],
    ) -> None:
        assert observation.view is not None
        candidates = [
            e for e in self._entries.values() if e.id not in claimed and observation.looked_for(e.label)
        ]
        if not candidates:
            return
        sights = expected_sight(
            observation.view,
            np.array([e.position for e in candidates]),
            np.array([e.size for e in candidates]),
        )
        for entry, sight in zip(candidates, sights, strict=True):
            if sight == Sight.HIDDEN:
                report.hidden.append(entry.id)
            if sight != Sight.VISIBLE:
                continue
            entry.confidence -= self.config.miss_decay
            entry.version = version
            if entry.confidence < self.config.min_confidence:
                del self._entries[entry.id]
                self._rows = None
                report.removed.append(entry.id)
            else:
                report.decayed.append(entry.id)
                changed[entry.id] = entry

    def _trim(self) -> list[str]:
        excess = len(self._entries) - self.config.max_objects
        if excess <= 0:
            return []
        order = sorted(self._entries.values(), key=lambda e: (e.confidence, e.last_seen))
        for entry in order[:excess]:
            del self._entries[entry.id]
        self._rows = None
        return [e.id for e in order[:excess]]

    def upsert(self, entry: MapEntry) -> str:
        """Add or replace one object as given (an empty id gets a new one); returns its id."""
        with self._lock:
            self.version += 1
            entry.id = entry.id or self._new_id()
            entry.version = self.version
            self._entries[entry.id] = entry
            self._rows = None
            self.store.write([entry], [], self.version, self._next_id)
            return entry.id

    def remove(self, ids: Sequence[str]) -> list[str]:
        """Remove objects by id; NotFoundError (naming the known ids) if one is not in the map."""
        with self._lock:
            for object_id in ids:
                self.get(object_id)
            return self._drop(list(dict.fromkeys(ids)))

    def forget(self, label: str) -> list[str]:
        """Remove every object that ``label`` names (by words); returns their ids."""
        if not label.strip():
            raise InvalidArgumentError("forget needs a label, e.g. 'tennis ball' (clear() empties the map)")
        with self._lock:
            return self._drop([e.id for e in self._entries.values() if label_matches(label, e.label)])

    def clear(self) -> list[str]:
        with self._lock:
            return self._drop(list(self._entries))

    def _drop(self, ids: list[str]) -> list[str]:
        if ids:
            for object_id in ids:
                del self._entries[object_id]
            self._rows = None
            self.version += 1
            self.store.write([], ids, self.version, self._next_id)
        return ids

    def close(self) -> None:
        self.store.close()
