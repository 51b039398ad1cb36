"""Demonstrations and their warping to a new scene through object correspondences (Tether-style).

A demonstration (arm joints and gripper opening over time, plus where the objects were at its start) is
cut at its grasp and release events (the gripper closing, opening). Each segment acts on one object: the
one nearest the TCP at the event that ends it (the grasped item; then the place target, nearest in xy).
For a new scene every TCP pose is moved by the translation of its segment's object (new position -
demonstrated position), blended smoothly from the previous segment's translation to its own so that the
last ``LOCK_RADIUS`` metres before each event move rigidly with the object. IK (``ArmKinematics``) turns
the warped poses back into joints. Correspondences are object points (one per object, from a detector or
keypointer), so the warp is a translation: orientations are kept. ``warp_policy`` serves it as a policy;
``maestro_agent.data`` amplifies demonstrations with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError, NotFoundError, UnreachableError

DEMO_VERSION = 1
GRIP_DELTA = 0.004  # m: an opening change at least this large, in one direction, is a gripper event
LOCK_RADIUS = 0.12  # m: within this distance of an event's TCP pose the warp is rigid with the object
TIME_WEIGHT = 0.02  # m per s: how much a plan sample's distance in time from the expected one counts
IDLE_SPEED = 0.01  # rad/s (arm) and m/s (fingers) below which a demonstration sample counts as idle


@dataclass(frozen=True)
class Demonstration:
    """One successful trial: joints (n, J) rad and gripper opening (n,) m at times (n,) s, the instruction,
    and each object's position at the start (base frame): the correspondences it is warped by."""

    instruction: str
    times: np.ndarray
    joints: np.ndarray
    opening: np.ndarray
    objects: Mapping[str, np.ndarray]
    task: str = ""
    source: str = ""  # where it came from (a trial id, a scene)

    def __post_init__(self) -> None:
        n = len(self.times)
        if n < 2 or self.joints.shape[0] != n or self.opening.shape != (n,):
            raise InvalidArgumentError(
                f"a demonstration needs >= 2 samples with matching times {self.times.shape}, joints "
                f"{self.joints.shape} and opening {self.opening.shape}"
            )
        if np.any(np.diff(self.times) <= 0):
            raise InvalidArgumentError("a demonstration's times must increase strictly")

    def save(self, path: Path | str) -> Path:
        meta = {
            "version": DEMO_VERSION,
            "instruction": self.instruction,
            "task": self.task,
            "source": self.source,
            "labels": list(self.objects),
        }
        positions = np.array([self.objects[k] for k in self.objects], np.float64).reshape(-1, 3)
        path = Path(path)
        np.savez_compressed(
            path,
            meta=json.dumps(meta),
            times=self.times,
            joints=self.joints,
            opening=self.opening,
            objects=positions,
        )
        return path

    @classmethod
    def load(cls, path: Path | str) -> Demonstration:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("version") != DEMO_VERSION:
                raise InvalidArgumentError(
                    f"{path}: demonstration version {meta.get('version')}, this code reads {DEMO_VERSION}"
                )
            objects = dict(zip(meta["labels"], data["objects"], strict=True))
            return cls(
                meta["instruction"],
                data["times"],
                data["joints"],
                data["opening"],
                objects,
                meta.get("task", ""),
                meta.get("source", ""),
            )


def load_demonstrations(path: Path | str) -> list[Demonstration]:
    """Every ``*.npz`` demonstration in a folder (sorted), or the one file."""
    path = Path(path)
    files = sorted(path.glob("*.npz")) if path.is_dir() else [path]
    if not files or not files[0].is_file():
        raise NotFoundError(f"no demonstrations (*.npz) at {path}; write some with `maestro data collect`")
    return [Demonstration.load(f) for f in files]


def drop_idle(demo: Demonstration, keep: float = 0.3) -> Demonstration:
    """The demonstration with idle stretches (arm and fingers still) shortened to ``keep`` s each."""
    dt = np.diff(demo.times)
    arm = np.abs(np.diff(demo.joints, axis=0)).max(axis=1) / dt
    fingers = np.abs(np.diff(demo.opening)) / dt
    idle = (arm < IDLE_SPEED) & (fingers < IDLE_SPEED)
    effective, still = dt.copy(), 0.0
    for k in range(len(dt)):
        still = still + dt[k] if idle[k] else 0.0
        if still > keep:
            effective[k] = 0.0  # nothing moves here: the time is dropped, then the sample
    times = np.concatenate([[0.0], np.cumsum(effective)])
    rows = np.concatenate([[True], effective > 0])
    return Demonstration(
        demo.instruction,
        times[rows],
        demo.joints[rows],
        demo.opening[rows],
        demo.objects,
        demo.task,
        demo.source,
    )


def gripper_events(opening: np.ndarray, delta: float = GRIP_DELTA) -> list[tuple[int, bool]]:
    """(sample index, closing) where the gripper starts to close (True) or open (False): the last sample of
    the plateau before the opening changed by at least ``delta`` m (noise and creep below that are not)."""
    events: list[tuple[int, bool]] = []
    ref, plateau, state = float(opening[0]), 0, None  # the settled opening, its last sample, closed?
    for k in range(1, len(opening)):
        value = float(opening[k])
        if state is not True and value <= ref - delta:
            events.append((plateau, True))
            ref, plateau, state = value, k, True
        elif state is not False and value >= ref + delta:
            events.append((plateau, False))
            ref, plateau, state = value, k, False
        else:
            if (state is True and value < ref) or (state is False and value > ref):
                ref = value  # still closing (opening) in the same direction
            if abs(value - ref) < 1e-3:
                plateau = k
    return events


@dataclass(frozen=True)
class Segment:
    start: int  # first sample
    end: int  # the event sample that ends it (last sample for the final segment)
    anchor: str | None  # the object it acts on (None: stays in the world frame)
    closed: bool  # the gripper is closed during it


def segment(demo: Demonstration, tcp: np.ndarray) -> list[Segment]:
    """Segments between gripper events; ``tcp`` (n, 3) TCP positions. Grasps anchor to the nearest object,
    releases to the nearest other object in xy; the stretch after the last event keeps the last anchor."""
    labels = list(demo.objects)
    if not labels:
        raise InvalidArgumentError("a demonstration needs at least one object correspondence")
    points = np.array([demo.objects[k] for k in labels])
    segments, start, held, closed, anchor = [], 0, None, False, None
    for index, closing in gripper_events(demo.opening):
        if closing:
            anchor = labels[int(np.argmin(np.linalg.norm(points - tcp[index], axis=1)))]
            held = anchor
        else:
            others = [i for i, k in enumerate(labels) if k != held] or list(range(len(labels)))
            distance = np.linalg.norm(points[others, :2] - tcp[index, :2], axis=1)
            anchor = labels[others[int(np.argmin(distance))]]
        segments.append(Segment(start, index, anchor, closed))
        start, closed = index, closing
    segments.append(Segment(start, len(demo.times) - 1, None, closed))
    return segments


def _blend(tcp: np.ndarray) -> np.ndarray:
    """(len(tcp),) weights 0 -> 1 along the path; 1 once the path stays within LOCK_RADIUS of its end."""
    path = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(tcp, axis=0), axis=1))])
    far = np.flatnonzero(np.linalg.norm(tcp - tcp[-1], axis=1) > LOCK_RADIUS)
    lock = path[far[-1] + 1] if len(far) and far[-1] + 1 < len(path) else path[-1]
    s = np.clip(path / lock, 0.0, 1.0) if lock > 1e-9 else np.ones_like(path)
    return s * s * (3.0 - 2.0 * s)  # smoothstep


def warp_positions(
    demo: Demonstration,
    tcp: np.ndarray,
    objects: Mapping[str, np.ndarray],
    frozen: Mapping[str, np.ndarray] = {},
) -> np.ndarray:
    """(n, 3) TCP positions moved with the objects: ``objects`` maps the demonstration's labels to their new
    positions; ``frozen`` overrides an anchor's translation (one already acted on)."""
    missing = [k for k in demo.objects if k not in objects and k not in frozen]
    if missing:
        raise NotFoundError(f"no correspondence for {missing}; given: {sorted(objects)}")

    def shift(label: str | None) -> np.ndarray:
        if label is None:
            return np.zeros(3)
        if label in frozen:
            return np.asarray(frozen[label], np.float64)
        return np.asarray(objects[label], np.float64) - np.asarray(demo.objects[label], np.float64)

    out, previous = tcp.copy(), np.zeros(3)
    for seg in segment(demo, tcp):
        rows = slice(seg.start, seg.end + 1)
        own = previous if seg.anchor is None else shift(seg.anchor)
        weight = _blend(tcp[rows])[:, None]
        out[rows] = tcp[rows] + (1.0 - weight) * previous + weight * own
        previous = own
    return out


def match_objects(demo: Demonstration, seen: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The demonstration's labels -> seen positions: same labels first, then the nearest leftovers
    (another item under the new_object axis takes the place of the demonstrated one)."""
    matched = {k: np.asarray(seen[k], np.float64) for k in demo.objects if k in seen}
    left = [k for k in seen if k not in matched]
    for label in (k for k in demo.objects if k not in matched):
        if not left:
            raise NotFoundError(f"no object seen for the demonstration's {label!r}; seen: {sorted(seen)}")
        best = min(left, key=lambda k: float(np.linalg.norm(np.asarray(seen[k]) - demo.objects[label])))
        matched[label] = np.asarray(seen[best], np.float64)
        left.remove(best)
    return matched


@dataclass
class WarpedPlan:
    """A demonstration warped to a scene: times (n,), TCP targets (n, 4, 4), gripper closed (n,) bool."""

    times: np.ndarray
    poses: np.ndarray
    closed: np.ndarray
    demo: Demonstration
    joints: np.ndarray | None = None  # (n, J) once solved

    def solve(
        self, kinematics: Any, start: np.ndarray, max_velocity: float, rows: slice = slice(None)
    ) -> None:
        """IK for ``rows`` (seeded from ``start``); then times stretched where a joint would outrun
        ``max_velocity`` rad/s. Raises UnreachableError (with the sample) where no solution exists."""
        indices = range(*rows.indices(len(self.times)))
        joints = np.array(self.demo.joints, np.float64) if self.joints is None else self.joints
        q = np.asarray(start, np.float64)
        for k in indices:
            try:
                q = kinematics.solve(self.poses[k], q, iterations=80).q
            except UnreachableError as exc:
                raise UnreachableError(f"warped sample {k} of {len(self.times)}: {exc}") from None
            joints[k] = q
        self.joints = joints
        if rows == slice(None):
            dt = np.diff(self.times)
            need = np.abs(np.diff(joints, axis=0)).max(axis=1) / max_velocity
            self.times = np.concatenate([[0.0], np.cumsum(np.maximum(dt, need))])


def densify(demo: Demonstration, tcp: np.ndarray, step: float = 0.015) -> tuple[Demonstration, np.ndarray]:
    """Samples inserted (TCP positions and joints linear, the opening held) where the TCP moves more than
    ``step`` m between samples: sparse recordings then warp and replay as straight lines."""
    counts = np.maximum(1, np.ceil(np.linalg.norm(np.diff(tcp, axis=0), axis=1) / step).astype(int))
    fractions = np.concatenate([[0.0], *[k + np.arange(1, c + 1) / c for k, c in enumerate(counts)]])
    base = np.arange(len(demo.times), dtype=np.float64)

    def lerp(values: np.ndarray) -> np.ndarray:
        columns = np.asarray(values, np.float64).reshape(len(base), -1).T
        return np.stack([np.interp(fractions, base, c) for c in columns], axis=1)

    held = demo.opening[np.floor(fractions + 1e-9).astype(int)]
    dense = Demonstration(
        demo.instruction,
        lerp(demo.times)[:, 0],
        lerp(demo.joints),
        held,
        demo.objects,
        demo.task,
        demo.source,
    )
    return dense, lerp(tcp)


def plan(
    demo: Demonstration,
    kinematics: Any,
    objects: Mapping[str, np.ndarray],
    frozen: Mapping[str, np.ndarray] = {},
    poses: np.ndarray | None = None,
) -> WarpedPlan:
    """The demonstration's TCP poses (FK, or ``poses``) warped to ``objects``; joints are solved by
    ``WarpedPlan.solve``. Orientations are the demonstrated ones (a translation warp)."""
    poses = np.array([kinematics.fk(q) for q in demo.joints]) if poses is None else poses.copy()
    poses[:, :3, 3] = warp_positions(demo, poses[:, :3, 3], objects, frozen)
    closed = np.zeros(len(demo.times), bool)
    for index, closing in gripper_events(demo.opening):
        closed[index:] = closing
    return WarpedPlan(demo.times.copy(), poses, closed, demo)


def prepare(demo: Demonstration, kinematics: Any) -> tuple[Demonstration, np.ndarray]:
    """A demonstration ready to warp: idle stretches dropped, densified; with its TCP poses (n, 4, 4)."""
    demo = drop_idle(demo)
    poses = np.array([kinematics.fk(q) for q in demo.joints])
    dense, positions = densify(demo, poses[:, :3, 3])
    nearest = np.round(np.interp(dense.times, demo.times, np.arange(len(demo.times)))).astype(int)
    out = poses[nearest].copy()
    out[:, :3, 3] = positions
    return dense, out
