"""A TF buffer for the modules: ``TransformTree`` (plain Python) and ``TfListener`` (its node adapter).

``TransformTree`` holds static and time-stamped transforms (parent -> child, each child one parent, as
in tf2), looks up the chain between any two frames, interpolates between stamps (slerp) and accepts
the nearest sample within ``tolerance`` beyond the newest or oldest one. ``lookup(target, source)``
is tf2's ``lookup_transform``: the pose of ``source`` in ``target``, the matrix that maps points
in ``source`` into ``target``. Stamps are seconds (ROS time as a float); ``None`` = the latest time
every transform on the chain has (tf2's ``Time(0)``).

``TfListener`` (``tf_listener.py``, importable from here; it needs rclpy) fills one from /tf and
/tf_static, or tf2_ros's Buffer where ``import tf2_ros`` works (stock ROS).
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import transforms3d

from maestro_tools.common.errors import NoDataError, NotFoundError

if TYPE_CHECKING:
    from maestro_tools.common.tf_listener import TfListener


class UnknownFrameError(NotFoundError):
    """A frame TF has never heard of, or two frames in trees that are not connected."""


class ExtrapolationError(NoDataError):
    """The transforms exist, but not at the requested stamp (stale, or older than the cache)."""


@dataclass(frozen=True)
class _Sample:
    stamp: float
    translation: np.ndarray  # (3,)
    quaternion: np.ndarray  # (4,) w, x, y, z


def _matrix(translation: np.ndarray, quaternion: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = transforms3d.quaternions.quat2mat(quaternion)
    matrix[:3, 3] = translation
    return matrix


def _interpolate(a: _Sample, b: _Sample, stamp: float) -> np.ndarray:
    ratio = (stamp - a.stamp) / (b.stamp - a.stamp)
    qa, qb = a.quaternion, b.quaternion
    if np.dot(qa, qb) < 0:
        qb = -qb
    angle = np.arccos(np.clip(np.dot(qa, qb), -1.0, 1.0))
    if angle < 1e-9:
        quaternion = qa
    else:
        quaternion = (np.sin((1 - ratio) * angle) * qa + np.sin(ratio * angle) * qb) / np.sin(angle)
    return _matrix(a.translation + ratio * (b.translation - a.translation), quaternion)


def invert(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a rigid 4x4 transform."""
    inverse = np.eye(4)
    inverse[:3, :3] = matrix[:3, :3].T
    inverse[:3, 3] = -matrix[:3, :3].T @ matrix[:3, 3]
    return inverse


class _Edge:
    """One child's transform from its parent: static, or a time series of samples."""

    def __init__(self, parent: str, static: bool) -> None:
        self.parent, self.static = parent, static
        self.stamps: list[float] = []
        self.samples: list[_Sample] = []

    @property
    def latest(self) -> float:
        return self.stamps[-1]

    def add(self, sample: _Sample, cache_time: float) -> None:
        if self.static:
            self.stamps, self.samples = [0.0], [sample]
            return
        index = bisect.bisect_left(self.stamps, sample.stamp)
        if index < len(self.stamps) and self.stamps[index] == sample.stamp:
            self.samples[index] = sample  # the same stamp again: the newer value
        else:
            self.stamps.insert(index, sample.stamp)
            self.samples.insert(index, sample)
        old = bisect.bisect_left(self.stamps, self.stamps[-1] - cache_time)
        if old > 0 and len(self.stamps) - old >= 2:
            del self.stamps[:old], self.samples[:old]

    def at(self, child: str, stamp: float, tolerance: float) -> np.ndarray:
        samples = self.samples
        if self.static:
            return _matrix(samples[0].translation, samples[0].quaternion)
        index = bisect.bisect_left(self.stamps, stamp)
        if index < len(samples) and samples[index].stamp == stamp:
            return _matrix(samples[index].translation, samples[index].quaternion)
        if 0 < index < len(samples):
            return _interpolate(samples[index - 1], samples[index], stamp)
        nearest = samples[-1] if index == len(samples) else samples[0]
        if abs(nearest.stamp - stamp) <= tolerance:
            return _matrix(nearest.translation, nearest.quaternion)
        when = "newest" if index == len(samples) else "oldest"
        raise ExtrapolationError(
            f"no transform {self.parent} -> {child} at t={stamp:.3f} s: the {when} one is from "
            f"t={nearest.stamp:.3f} s ({abs(nearest.stamp - stamp):.3f} s away; tolerance {tolerance} s); "
            "is the robot's TF publisher (robot_state_publisher or the sim) running?"
        )


class TransformTree:
    """Static and time-stamped transforms between named frames; thread-safe."""

    def __init__(self, cache_time: float = 10.0, tolerance: float = 0.05) -> None:
        self.cache_time, self.tolerance = cache_time, tolerance
        self._edges: dict[str, _Edge] = {}
        self._lock = threading.Lock()

    def set(self, parent: str, child: str, matrix: np.ndarray, stamp: float | None = None) -> None:
        """Add ``child``'s pose in ``parent``: static when ``stamp`` is None, else a sample at ``stamp``."""
        matrix = np.asarray(matrix, dtype=np.float64)
        rotation = transforms3d.quaternions.mat2quat(matrix[:3, :3])
        self.set_transform(parent, child, matrix[:3, 3], rotation, stamp)

    def set_transform(
        self,
        parent: str,
        child: str,
        translation: np.ndarray,
        rotation: np.ndarray,
        stamp: float | None = None,
    ) -> None:
        """``set`` with a translation and a (w, x, y, z) quaternion (what a TF message carries)."""
        if not parent or not child or parent == child:
            raise UnknownFrameError(
                f"a transform needs two different frame names; got {parent!r} -> {child!r}"
            )
        static = stamp is None
        with self._lock:
            edge = self._edges.get(child)
            if edge is None or edge.parent != parent or edge.static != static:
                edge = self._edges[child] = _Edge(parent, static)  # re-parenting starts a new history
            rotation = np.asarray(rotation, dtype=np.float64)
            sample = _Sample(
                0.0 if stamp is None else stamp,
                np.array(translation, dtype=np.float64),
                rotation / np.linalg.norm(rotation),
            )
            edge.add(sample, self.cache_time)

    def clear(self) -> None:
        with self._lock:
            self._edges.clear()

    def frames(self) -> list[str]:
        with self._lock:
            return sorted({*self._edges, *(e.parent for e in self._edges.values())})

    def _chain(self, frame: str) -> list[str]:
        chain = [frame]
        while chain[-1] in self._edges:
            chain.append(self._edges[chain[-1]].parent)
            if len(chain) > 1000:
                raise UnknownFrameError(f"the TF tree above {frame!r} has a loop")
        return chain

    def lookup(self, target: str, source: str, stamp: float | None = None) -> np.ndarray:
        """4x4 pose of ``source`` in ``target`` at ``stamp`` (None: the latest common time)."""
        if target == source:
            return np.eye(4)
        with self._lock:
            known = {*self._edges, *(e.parent for e in self._edges.values())}
            for frame in (target, source):
                if frame not in known:
                    raise UnknownFrameError(
                        f"unknown frame {frame!r}; frames: {', '.join(sorted(known)) or 'none yet'}"
                    )
            up, down = self._chain(source), self._chain(target)
            common = next((f for f in up if f in set(down)), None)
            if common is None:
                raise UnknownFrameError(
                    f"frames {source!r} and {target!r} are not connected: their trees' roots are "
                    f"{up[-1]!r} and {down[-1]!r}"
                )
            edges = [*up[: up.index(common)], *down[: down.index(common)]]
            if stamp is None:
                dynamic = [self._edges[f].latest for f in edges if not self._edges[f].static]
                stamp = min(dynamic) if dynamic else 0.0
            source_in_common = np.eye(4)
            for frame in up[: up.index(common)]:
                source_in_common = self._edges[frame].at(frame, stamp, self.tolerance) @ source_in_common
            target_in_common = np.eye(4)
            for frame in down[: down.index(common)]:
                target_in_common = self._edges[frame].at(frame, stamp, self.tolerance) @ target_in_common
        return invert(target_in_common) @ source_in_common

    def is_static(self, target: str, source: str) -> bool:
        """Whether static transforms alone connect the two frames (then any stamp will do)."""
        if target == source:
            return True
        with self._lock:
            up, down = self._chain(source), self._chain(target)
            common = next((f for f in up if f in set(down)), None)
            if common is None:
                return False
            edges = [*up[: up.index(common)], *down[: down.index(common)]]
            return all(self._edges[f].static for f in edges)

    def can_transform(self, target: str, source: str, stamp: float | None = None) -> bool:
        try:
            self.lookup(target, source, stamp)
        except (UnknownFrameError, ExtrapolationError):
            return False
        return True


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 3) points mapped by a 4x4 transform."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def stamp_seconds(stamp: Any) -> float | None:
    """A builtin_interfaces/Time as seconds; the zero stamp (= latest, in tf2) as None."""
    nanoseconds = int(stamp.sec) * 10**9 + int(stamp.nanosec)
    return None if nanoseconds == 0 else nanoseconds * 1e-9


def transform_to_matrix(transform: Any) -> np.ndarray:
    """A geometry_msgs/Transform as a 4x4 matrix."""
    t, q = transform.translation, transform.rotation
    return _matrix(np.array([t.x, t.y, t.z]), np.array([q.w, q.x, q.y, q.z]))


def __getattr__(name: str) -> type[TfListener]:
    """``from maestro_tools.common.tf import TfListener``: imported on use, so that this module needs
    no ROS."""
    if name == "TfListener":
        from maestro_tools.common.tf_listener import TfListener

        return TfListener
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
