"""A skid-steer base controller: a Twist-like (vx, wz) command -> left and right wheel speeds.

Plain Python (no MuJoCo, no ROS). The command is clamped to the base's speed and yaw-rate limits and
ramped at its acceleration limits; PI loops on the measured forward speed and yaw rate (wheel speeds
and a gyro on a real base) make up for the tyres' slip, which on a skid-steer base is large when it
turns: its four wheels scrub sideways, so the open-loop yaw rate is well below the command.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.robots.profile import BaseSpec

IDLE = 1e-3  # m/s or rad/s: a command below this on both axes stops the base


@dataclass(frozen=True)
class DriveGains:
    """PI gains on the speed (per m/s) and yaw-rate (per rad/s) errors, and the integrators' bounds."""

    kp_linear: float = 0.6
    ki_linear: float = 1.0
    kp_angular: float = 1.5
    ki_angular: float = 8.0  # high: the yaw rate a skid-steer base gets from its wheels varies with slip
    max_linear_integral: float = 0.5  # m
    max_angular_integral: float = 1.0  # rad


class SkidSteerDrive:
    """Wheel speeds (rad/s, left and right side) that make a skid-steer base follow (vx, wz)."""

    def __init__(self, base: BaseSpec, gains: DriveGains | None = None) -> None:
        if not base.left_wheels:
            raise InvalidArgumentError(
                "the base has no wheels: declare left_wheels/right_wheels in its BaseSpec"
            )
        self.base, self.gains = base, gains or DriveGains()
        self.reset()

    def reset(self) -> None:
        self.command = np.zeros(2)  # vx, wz as asked (clamped)
        self.setpoint = np.zeros(2)  # the command ramped at the acceleration limits
        self._integral = np.zeros(2)

    def rest(self) -> None:
        """Start again from standing still (ramp and integrators), keeping the command."""
        self.setpoint[:] = 0.0
        self._integral[:] = 0.0

    def set_command(self, linear: float, angular: float) -> None:
        """Ask for ``linear`` m/s forward and ``angular`` rad/s yaw rate (clamped to the base's limits)."""
        if not (np.isfinite(linear) and np.isfinite(angular)):
            raise InvalidArgumentError(f"the velocity command must be finite; got ({linear}, {angular})")
        base = self.base
        self.command[:] = (
            np.clip(linear, -base.max_linear, base.max_linear),
            np.clip(angular, -base.max_angular, base.max_angular),
        )

    @property
    def idle(self) -> bool:
        """Asked to stand still (and ramped down to it)."""
        return bool(np.all(np.abs(self.command) < IDLE) and np.all(np.abs(self.setpoint) < IDLE))

    def update(self, measured_linear: float, measured_angular: float, dt: float) -> tuple[float, float]:
        """One control step: the left and right wheel speeds (rad/s) from the measured (vx, wz)."""
        base, gains = self.base, self.gains
        step = np.array([base.max_linear_accel, base.max_angular_accel]) * dt
        self.setpoint += np.clip(self.command - self.setpoint, -step, step)
        error = self.setpoint - (measured_linear, measured_angular)
        bounds = np.array([gains.max_linear_integral, gains.max_angular_integral])
        self._integral = np.clip(self._integral + error * dt, -bounds, bounds)
        if self.idle:
            self._integral *= 0.9  # bleed off, so a stop does not carry a wind-up into the next move
        linear = self.setpoint[0] + gains.kp_linear * error[0] + gains.ki_linear * self._integral[0]
        angular = self.setpoint[1] + gains.kp_angular * error[1] + gains.ki_angular * self._integral[1]
        return wheel_speeds(base, linear, angular)


def wheel_speeds(base: BaseSpec, linear: float, angular: float) -> tuple[float, float]:
    """Differential-drive kinematics: (left, right) wheel speeds in rad/s for a body twist (vx, wz)."""
    half_track = base.track_width / 2
    return (linear - angular * half_track) / base.wheel_radius, (
        linear + angular * half_track
    ) / base.wheel_radius


def body_twist(base: BaseSpec, left: float, right: float) -> tuple[float, float]:
    """The inverse: (vx, wz) from the mean (left, right) wheel speeds, assuming no slip."""
    left_speed, right_speed = left * base.wheel_radius, right * base.wheel_radius
    return (left_speed + right_speed) / 2, (right_speed - left_speed) / base.track_width
