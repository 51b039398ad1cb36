"""The Go2-W's sport-mode state as base odometry (plain Python, no ROS, no SDK import).

``rt/sportmodestate`` (unitree_go ``SportModeState_``) reports the robot's own odometry estimate:
``position`` (x, y, z) and ``velocity`` (vx, vy, vz) in its odometry frame, ``yaw_speed`` (rad/s) and the
IMU (``imu_state.quaternion`` w, x, y, z; ``gyroscope`` rad/s, body frame). nav_msgs/Odometry wants the
pose in ``odom`` and the twist in the child frame (``base_link``): the velocity is rotated into the body.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Vector = tuple[float, float, float]


@dataclass(frozen=True)
class BaseOdometry:
    position: Vector  # m, odometry frame
    quaternion: tuple[float, float, float, float]  # w, x, y, z: base in the odometry frame
    linear: Vector  # m/s, base frame
    angular: Vector  # rad/s, base frame


def unit_quaternion(quaternion: Sequence[float]) -> tuple[float, float, float, float]:
    """``quaternion`` (w, x, y, z) normalised; the identity for a zero or non-finite one (no IMU yet)."""
    q = np.asarray(quaternion, dtype=float)
    norm = float(np.linalg.norm(q)) if q.shape == (4,) and np.isfinite(q).all() else 0.0
    if norm < 1e-9:
        return (1.0, 0.0, 0.0, 0.0)
    w, x, y, z = (float(v) for v in q / norm)
    return (w, x, y, z)


def rotation_matrix(quaternion: Sequence[float]) -> np.ndarray:
    """The 3x3 rotation of a unit quaternion (w, x, y, z)."""
    w, x, y, z = unit_quaternion(quaternion)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def _vector(values: Sequence[float]) -> Vector:
    x, y, z = (float(v) if math.isfinite(float(v)) else 0.0 for v in list(values)[:3])
    return (x, y, z)


def odometry_from_sport_state(state: Any) -> BaseOdometry:
    """BaseOdometry of a ``SportModeState_`` (or anything with its fields)."""
    imu = state.imu_state
    quaternion = unit_quaternion(list(imu.quaternion))
    velocity = np.array(_vector(state.velocity))
    linear = rotation_matrix(quaternion).T @ velocity  # odometry frame -> base frame
    gyro = _vector(imu.gyroscope)
    yaw_speed = float(state.yaw_speed)
    angular = (gyro[0], gyro[1], yaw_speed if math.isfinite(yaw_speed) else gyro[2])
    return BaseOdometry(_vector(state.position), quaternion, _vector(linear), angular)
