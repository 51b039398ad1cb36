"""Velocity commands for a skid-steer base (plain Python), shared by the simulation and the real-robot
drivers: a Twist's components checked and clamped to the base's limits, and a watchdog that stops the
base when commands stop coming.

A skid-steer base moves along its x axis and turns about z only: the other components of a Twist are
ignored (the clamp says so). The watchdog runs on the clock its caller passes (the simulation: sim time,
like every timer of a use_sim_time graph; a driver: wall time): a command older than ``timeout`` s means
its sender died or lost the link, so the base stops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.robots.profile import BaseSpec

UNUSED = 1e-6  # m/s or rad/s: a component beyond this, which the base cannot follow, is reported


@dataclass(frozen=True)
class VelocityCommand:
    """A command the base can follow: forward speed (m/s) and yaw rate (rad/s), within its limits."""

    linear: float
    angular: float
    notes: tuple[str, ...] = ()  # what was clamped or ignored, for a warning


def clamp_twist(
    base: BaseSpec, linear: tuple[float, float, float], angular: tuple[float, float, float]
) -> VelocityCommand:
    """The Twist ``linear`` (x, y, z) and ``angular`` (x, y, z) as a command for ``base``; raises
    InvalidArgumentError on a NaN or infinite component (the base keeps its last command)."""
    values = (*linear, *angular)
    if not all(math.isfinite(v) for v in values):
        raise InvalidArgumentError(f"cmd_vel must be finite; got linear {linear}, angular {angular}")
    notes = []
    ignored = [
        name
        for name, value in zip(("linear.y", "linear.z", "angular.x", "angular.y"), values[1:5], strict=True)
        if abs(value) > UNUSED
    ]
    if ignored:
        notes.append(f"{', '.join(ignored)} ignored (a skid-steer base drives along x and turns about z)")
    vx, wz = linear[0], angular[2]
    clamped_vx = min(max(vx, -base.max_linear), base.max_linear)
    clamped_wz = min(max(wz, -base.max_angular), base.max_angular)
    if clamped_vx != vx:
        notes.append(f"linear.x {vx:.3f} m/s clamped to {clamped_vx:.3f} (limit {base.max_linear} m/s)")
    if clamped_wz != wz:
        notes.append(f"angular.z {wz:.3f} rad/s clamped to {clamped_wz:.3f} (limit {base.max_angular} rad/s)")
    return VelocityCommand(clamped_vx, clamped_wz, tuple(notes))


class VelocityWatchdog:
    """Says when the last velocity command is older than ``timeout`` s (of the caller's clock)."""

    def __init__(self, timeout: float) -> None:
        if not timeout > 0:
            raise InvalidArgumentError(f"the cmd_vel timeout must be > 0 s; got {timeout}")
        self.timeout = timeout
        self.last: float | None = None  # when the last command came; None: none is in force

    def command(self, now: float, moving: bool) -> None:
        """A command arrived at ``now``; a stop (``moving`` False) needs no watching."""
        self.last = now if moving else None

    def expired(self, now: float) -> bool:
        """True once (then the caller stops the base) when the command in force is too old."""
        if self.last is not None and now - self.last > self.timeout:
            self.last = None
            return True
        return False

    def rearm(self) -> None:
        """The stop did not take (not acknowledged): say expired again at the next check."""
        self.last = float("-inf")
