"""Joint-trajectory and gripper control for the simulated arm (plain Python, no ROS).

A trajectory is validated before it runs: known joint names, finite values, positions inside the
joint limits, strictly increasing times. It is followed by linear interpolation of the position
targets in simulation time, then held while the joints settle within the goal tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError, OutOfLimitsError
from maestro_tools.robots.profile import GripperSpec


@dataclass(frozen=True)
class JointLimits:
    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray

    def describe(self, index: int) -> str:
        return f"{self.names[index]} in [{self.lower[index]:.4f}, {self.upper[index]:.4f}] rad"


@dataclass
class Trajectory:
    """A validated trajectory over the arm's joints (targets for joints it omits stay where they are)."""

    indices: np.ndarray  # arm joint index of each trajectory column
    times: np.ndarray  # (K,) seconds from start, strictly increasing, > 0
    positions: np.ndarray  # (K, J)
    start: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (J,) positions when it began
    start_time: float = 0.0

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    def target(self, now: float) -> np.ndarray:
        """Interpolated target of the trajectory's joints at simulation time ``now``."""
        t = now - self.start_time
        times = np.concatenate([[0.0], self.times])
        points = np.vstack([self.start, self.positions])
        if t >= times[-1]:
            return points[-1]
        k = int(np.searchsorted(times, t, side="right"))
        alpha = (t - times[k - 1]) / (times[k] - times[k - 1])
        return points[k - 1] + alpha * (points[k] - points[k - 1])


def validate_trajectory(
    limits: JointLimits, names: Sequence[str], times: Sequence[float], positions: Sequence[Sequence[float]]
) -> Trajectory:
    """Build a Trajectory or raise an error whose message names the valid joints and limits."""
    if not names:
        raise InvalidArgumentError(f"the trajectory names no joints; arm joints: {', '.join(limits.names)}")
    unknown = [n for n in names if n not in limits.names]
    if unknown:
        raise InvalidArgumentError(f"unknown joint(s) {unknown}; arm joints: {', '.join(limits.names)}")
    if len(set(names)) != len(names):
        raise InvalidArgumentError(f"joint names repeat in {list(names)}")
    if not positions:
        raise InvalidArgumentError("the trajectory has no points")
    indices = np.array([limits.names.index(n) for n in names])
    rows = []
    for k, point in enumerate(positions):
        if len(point) != len(names):
            raise InvalidArgumentError(f"point {k} has {len(point)} positions for {len(names)} joints")
        row = np.asarray(point, dtype=np.float64)
        if not np.isfinite(row).all():
            raise InvalidArgumentError(f"point {k} has a NaN or infinite position: {row.tolist()}")
        for column, value in enumerate(row):
            index = indices[column]
            if not limits.lower[index] <= value <= limits.upper[index]:
                raise OutOfLimitsError(
                    f"point {k}: {names[column]} = {value:.4f} rad is outside its limits; "
                    f"{limits.describe(index)}"
                )
        rows.append(row)
    stamps = np.asarray(times, dtype=np.float64)
    if not np.isfinite(stamps).all() or stamps[0] <= 0 or np.any(np.diff(stamps) <= 0):
        raise InvalidArgumentError(
            f"time_from_start must be finite, positive and strictly increasing; got {stamps.tolist()}"
        )
    return Trajectory(indices=indices, times=stamps, positions=np.vstack(rows))


class GripperState:
    """Tracks a gripper command until the fingers stop moving."""

    SETTLE_SPEED = 0.002  # m/s of the opening below which the fingers count as still
    SETTLE_TIME = 0.15  # s the fingers must stay still
    TIMEOUT = 3.0  # s

    def __init__(self, target: float, start_time: float) -> None:
        self.target = target
        self.start_time = start_time
        self._still_since: float | None = None
        self._last: tuple[float, float] | None = None

    def update(self, now: float, width: float) -> bool:
        """Feed the current opening; return True once the motion has settled (or timed out)."""
        if self._last is not None:
            dt = now - self._last[0]
            speed = abs(width - self._last[1]) / dt if dt > 0 else math.inf
            if speed < self.SETTLE_SPEED:
                self._still_since = self._still_since if self._still_since is not None else now
            else:
                self._still_since = None
        self._last = (now, width)
        settled = self._still_since is not None and now - self._still_since >= self.SETTLE_TIME
        return settled or now - self.start_time > self.TIMEOUT


BLOCKED_LAG = 0.003  # m the opening may trail its speed-limited ramp before the fingers count as blocked
SQUEEZE_RISE = 0.05  # s for the squeeze to build up to the full force once the fingers are blocked


@dataclass
class FingerMotion:
    """One gripper command as a parallel gripper runs it (franka_gripper's move, then grasp).

    The opening follows a ramp toward ``target`` at ``speed``. When something blocks the fingers (they
    trail the ramp by more than BLOCKED_LAG) they squeeze it: the set-point stays ``full_offset`` (the
    servo error that gives the command's force) past the current opening, so the force is the commanded
    one whatever the object's width, built up over SQUEEZE_RISE. Near ``target`` (within BLOCKED_LAG)
    the set-point is the target itself: an object that slips out leaves the fingers at the target.
    Widths are metres of opening.
    """

    target: float
    start: float  # opening when the command began
    start_time: float
    speed: float  # m/s of the opening
    full_offset: float  # set-point offset past the opening that gives the full force
    blocked_since: float | None = None
    done: bool = False  # reached the target unblocked: the set-point stays the target from now on

    @classmethod
    def command(
        cls,
        width: float,
        force: float | None,
        *,
        opening: float,
        now: float,
        gripper: GripperSpec,
        default_force: float,
        offset_for: Callable[[float], float],
    ) -> tuple[FingerMotion, float]:
        """A command to opening ``width`` (clipped to the gripper's range) from ``opening`` at ``now``,
        squeezing what stops the fingers with ``force`` N (None or <= 0: ``default_force``; at most the
        gripper's max_force); ``offset_for(force)`` is the servo's set-point offset for that force.
        Returns the motion and the force used."""
        squeeze = default_force if force is None or not force > 0 else min(force, gripper.max_force)
        motion = cls(
            target=float(np.clip(width, 0.0, gripper.max_width)),
            start=opening,
            start_time=now,
            speed=gripper.speed,
            full_offset=offset_for(squeeze),
        )
        return motion, squeeze

    def setpoint(self, now: float, width: float) -> float:
        """The servo's opening set-point at simulation time ``now`` for the current ``width``."""
        direction = 1.0 if self.target >= self.start else -1.0
        distance = abs(self.target - self.start)
        travelled = min(self.speed * max(now - self.start_time, 0.0), distance)
        ramp = self.start + direction * travelled
        if self.blocked_since is None and direction * (ramp - width) > BLOCKED_LAG:
            self.blocked_since = now
        if self.blocked_since is None:
            self.done = travelled >= distance and abs(width - self.target) <= BLOCKED_LAG
            return ramp
        if direction * (self.target - width) <= BLOCKED_LAG:
            return self.target
        rise = min(1.0, (now - self.blocked_since) / SQUEEZE_RISE)
        return width + direction * max(min(BLOCKED_LAG, self.full_offset), self.full_offset * rise)
