"""Joint-trajectory and gripper control for the simulated arm (plain Python, no ROS).

A trajectory is validated before it runs: known joint names, finite values, positions inside the
joint limits, strictly increasing times. It is followed by linear interpolation of the position
targets in simulation time, then held while the joints settle within the goal tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError, OutOfLimitsError


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
