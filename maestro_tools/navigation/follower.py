"""Path following for a skid-steer (or differential) base: forward speed and yaw rate only.

Rotate-then-drive with pure pursuit: while the lookahead point is more than ``rotate_threshold`` off the
heading the base turns in place; otherwise it drives along the arc through that point, slowing near the
goal and on tight arcs; a goal less than ``reverse_distance`` away behind the base is backed onto.
Within the position tolerance it turns to the goal's heading. Commands respect the speed and
acceleration limits (the base's, from the robot profile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError


def wrap(angle: float) -> float:
    """An angle in [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


@dataclass(frozen=True)
class FollowerConfig:
    max_linear: float = 0.5  # m/s
    max_angular: float = 1.0  # rad/s
    max_linear_accel: float = 1.0  # m/s^2
    max_angular_accel: float = 3.0  # rad/s^2
    lookahead: float = 0.6  # m
    rotate_threshold: float = 0.7  # rad off the lookahead point beyond which the base turns in place
    slow_radius: float = 0.8  # m from the goal where the speed starts to fall
    min_linear: float = 0.08  # m/s the base still creeps at near the goal
    heading_gain: float = 2.0  # rad/s per rad of heading error when turning in place
    reverse_distance: float = 0.5  # m: a goal this near and behind the base is reached backwards

    def __post_init__(self) -> None:
        if min(self.max_linear, self.max_angular, self.max_linear_accel, self.max_angular_accel) <= 0:
            raise InvalidArgumentError("follower: speeds and accelerations must be > 0")
        if self.lookahead <= 0 or not 0 < self.rotate_threshold < math.pi:
            raise InvalidArgumentError("follower: need lookahead > 0 and 0 < rotate_threshold < pi")


@dataclass(frozen=True)
class Pose2D:
    x: float
    y: float
    yaw: float

    @property
    def xy(self) -> np.ndarray:
        return np.array([self.x, self.y])


class PathFollower:
    """Turns a path and the robot's pose into (linear, angular) commands; keeps the last command for the
    acceleration limits (``reset`` at the start of a goal)."""

    def __init__(self, config: FollowerConfig) -> None:
        self.config = config
        self.last = (0.0, 0.0)
        self._index = 0
        self.scale = 1.0

    def reset(self, scale: float = 1.0) -> None:
        """A new goal; ``scale`` in (0, 1] scales the speed and acceleration limits for it (a careful
        drive: carrying something)."""
        if not 0.0 < scale <= 1.0:
            raise InvalidArgumentError(f"follower: speed scale must be in (0, 1]; got {scale}")
        self.last, self._index, self.scale = (0.0, 0.0), 0, scale

    def new_path(self) -> None:
        self._index = 0

    def limit(self, linear: float, angular: float, dt: float) -> tuple[float, float]:
        """Clamp to the speed limits, then to what the acceleration limits allow within ``dt`` s."""
        c, k = self.config, self.scale
        linear = float(np.clip(linear, -c.max_linear * k, c.max_linear * k))
        angular = float(np.clip(angular, -c.max_angular * k, c.max_angular * k))
        dv, dw = c.max_linear_accel * k * dt, c.max_angular_accel * k * dt
        linear = float(np.clip(linear, self.last[0] - dv, self.last[0] + dv))
        angular = float(np.clip(angular, self.last[1] - dw, self.last[1] + dw))
        self.last = (linear, angular)
        return self.last

    def closest(self, pose: Pose2D, path: np.ndarray) -> int:
        """The path vertex nearest the robot, searched from the last one onwards (progress is kept)."""
        window = path[self._index : self._index + 20]
        self._index += int(np.argmin(np.linalg.norm(window - pose.xy, axis=1)))
        return self._index

    def remaining(self, pose: Pose2D, path: np.ndarray) -> float:
        """Metres along the path from the robot to its end."""
        k = min(self.closest(pose, path) + 1, len(path) - 1)
        rest = path[k:]
        tail = float(np.linalg.norm(np.diff(rest, axis=0), axis=1).sum()) if len(rest) > 1 else 0.0
        return float(np.linalg.norm(path[k] - pose.xy)) + tail

    def lookahead_point(self, pose: Pose2D, path: np.ndarray) -> np.ndarray:
        k = self.closest(pose, path)
        for point in path[k:]:
            if np.linalg.norm(point - pose.xy) >= self.config.lookahead:
                return point
        return path[-1]

    def drive(
        self, pose: Pose2D, path: np.ndarray, dt: float, speed_limit: float = math.inf
    ) -> tuple[float, float]:
        """The command that follows ``path`` (N, 2) towards its end, at most ``speed_limit`` m/s."""
        c = self.config
        target = self.lookahead_point(pose, path)
        dx, dy = target - pose.xy
        alpha = wrap(math.atan2(dy, dx) - pose.yaw)
        to_goal = float(np.linalg.norm(path[-1] - pose.xy))
        direction = 1.0
        if to_goal <= c.reverse_distance and abs(alpha) > math.pi - c.rotate_threshold:
            direction, alpha = -1.0, wrap(alpha - math.pi)  # back onto it: the arc as seen from behind
        if abs(alpha) > c.rotate_threshold:
            return self.limit(0.0, c.heading_gain * alpha, dt)
        top_linear, top_angular = c.max_linear * self.scale, c.max_angular * self.scale
        speed = min(top_linear, speed_limit) * min(1.0, to_goal / c.slow_radius)
        speed = max(speed, c.min_linear) * max(0.3, math.cos(alpha))
        distance = max(float(math.hypot(dx, dy)), 1e-3)
        curvature = 2.0 * math.sin(alpha) / distance
        if abs(speed * curvature) > top_angular:  # keep the arc: slow down rather than cut the corner
            speed = top_angular / abs(curvature)
        return self.limit(direction * speed, speed * curvature, dt)

    def turn_to(self, pose: Pose2D, yaw: float, dt: float) -> tuple[float, float]:
        """Turn in place towards ``yaw``."""
        error = wrap(yaw - pose.yaw)
        angular = self.config.heading_gain * error
        floor = 0.15  # rad/s: the base's deadband; small errors still turn
        if abs(angular) < floor:
            angular = math.copysign(floor, error)
        return self.limit(0.0, angular, dt)
