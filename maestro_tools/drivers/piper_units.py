"""The PiPER driver's plain-Python half: SDK units, joint limits, trajectory sampling, the CAN bus choice.

piper_sdk's ``JointCtrl`` takes joint positions in 0.001 degrees, ``GripperCtrl`` the opening in 0.001 mm
and an effort in 0.001 N*m (0-5000); feedback comes back in the same units. ROS speaks radians, metres
and newtons (control_msgs GripperCommand: ``position`` is one finger's travel, half the opening of the
two-finger gripper, as the simulation's gripper controller takes it).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError

# The SDK's documented joint limits (rad), C_PiperInterface_V2.JointCtrl.
JOINT_LIMITS = (
    (-2.6179, 2.6179),
    (0.0, 3.14),
    (-2.967, 0.0),
    (-1.745, 1.745),
    (-1.22, 1.22),
    (-2.0944, 2.0944),
)
FULL_EFFORT = 5000  # 0.001 N*m, the top of GripperCtrl's effort range
CAN_INTERFACES = ("socketcan", "socketcand", "slcan", "virtual")
SOCKETCAND_LOGGER = "can.interfaces.socketcand.socketcand"


def rad_to_millidegrees(value: float) -> int:
    return int(round(math.degrees(value) * 1000.0))


def millidegrees_to_rad(value: int) -> float:
    return math.radians(value / 1000.0)


def width_to_micrometres(width: float) -> int:
    return int(round(width * 1e6))


def micrometres_to_width(value: int) -> float:
    return value / 1e6


def force_to_effort(force: float, max_force: float) -> int:
    """A squeeze in newtons as GripperCtrl's effort, scaled so that ``max_force`` is the range's top."""
    return int(round(min(max(force, 0.0), max_force) / max_force * FULL_EFFORT))


def effort_to_force(effort: int, max_force: float) -> float:
    return effort / FULL_EFFORT * max_force


def check_positions(names: Sequence[str], joints: Sequence[str], positions: Sequence[float]) -> None:
    """Raise InvalidArgumentError naming the limits when a position is outside them or not finite."""
    for name, value in zip(names, positions, strict=True):
        lower, upper = JOINT_LIMITS[list(joints).index(name)]
        if not (math.isfinite(value) and lower - 1e-6 <= value <= upper + 1e-6):
            raise InvalidArgumentError(
                f"{name} = {value:.4f} rad is outside the PiPER's [{lower}, {upper}] rad"
            )


class SampledTrajectory:
    """A joint trajectory over all arm joints, from the measured start, linearly interpolated in time
    (the arm's firmware moves to each sample; the driver streams them at its command rate)."""

    def __init__(
        self,
        joints: Sequence[str],
        start: Sequence[float],
        names: Sequence[str],
        times: Sequence[float],
        points: Sequence[Sequence[float]],
    ) -> None:
        if not names:
            raise InvalidArgumentError(f"the trajectory names no joints; arm joints: {', '.join(joints)}")
        unknown = [n for n in names if n not in joints]
        if unknown:
            raise InvalidArgumentError(f"unknown joint(s) {unknown}; arm joints: {', '.join(joints)}")
        if len(set(names)) != len(names) or not points:
            raise InvalidArgumentError("the trajectory repeats a joint or has no points")
        if any(b <= a for a, b in zip([0.0, *times], times, strict=False)) or not times:
            raise InvalidArgumentError(f"time_from_start must increase from > 0; got {list(times)}")
        columns = [list(joints).index(n) for n in names]
        rows = [np.asarray(start, dtype=float)]
        for k, point in enumerate(points):
            if len(point) != len(names):
                raise InvalidArgumentError(f"point {k} has {len(point)} positions for {len(names)} joints")
            check_positions(names, joints, point)
            row = rows[-1].copy()
            row[columns] = point
            rows.append(row)
        self.times = np.array([0.0, *times])
        self.points = np.vstack(rows)
        self.columns = columns

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    @property
    def goal(self) -> np.ndarray:
        return self.points[-1]

    def sample(self, t: float) -> np.ndarray:
        """All joints' positions ``t`` s after the start (the last point after the end)."""
        return np.array([np.interp(t, self.times, self.points[:, j]) for j in range(self.points.shape[1])])


def configure_can(interface: str, host: str, port: int) -> None:
    """Make python-can open ``interface`` with its extra settings. piper_sdk creates its buses with a
    channel and an interface only, so the socketcand server's address goes into python-can's in-code
    configuration (``can.rc``), which every Bus() reads."""
    if interface not in CAN_INTERFACES:
        raise InvalidArgumentError(
            f"CAN interface {interface!r} is unknown; valid: {', '.join(CAN_INTERFACES)}"
        )
    import can

    if interface == "socketcand":
        can.rc.update(host=host, port=int(port))
        # python-can warns on every frame a TCP read splits in two (then reassembles it): not news.
        logging.getLogger(SOCKETCAND_LOGGER).setLevel(logging.ERROR)
