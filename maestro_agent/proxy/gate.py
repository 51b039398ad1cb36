"""The actuation gate: every goal the tools send to something that moves the robot passes through here.

It runs in the agent (the sandboxed code cannot reach it) inside ``RosClient``, which is the tools'
only way to the ROS graph: clients only for the services and actions on the allowlist; motion goals
only with targets inside the robot profile's workspace and joint limits, speed capped, gripper force
capped, no new motion while a cancel is pending, at most ``motion_rate_hz`` motion commands per
second, and, in supervised mode, only after an operator confirmed each one. Refusals are typed errors
that name the limit and its value, so the model can replan.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from control_msgs.action import FollowJointTrajectory, GripperCommand

from maestro_agent.sandbox import channel
from maestro_msgs.action import MoveArm, NavigateBase
from maestro_tools.common.errors import CanceledError, InvalidArgumentError, OutOfLimitsError
from maestro_tools.robots.body_posture import HEIGHT_JOINT, PITCH_JOINT, BodyPosture
from maestro_tools.robots.profile import RobotProfile

# What the registered tools call (relative names, resolved in the agent's namespace).
TOOL_ENDPOINTS = ("move_arm", "navigate", "detect", "point", "plan_grasp", "query_map", "update_map")
MOTION_GOALS = (MoveArm.Goal, GripperCommand.Goal, NavigateBase.Goal, FollowJointTrajectory.Goal)


@dataclass(frozen=True)
class GateLimits:
    max_speed: float = 1.0  # cap on MoveArm.velocity_scaling (fraction of the robot's maximum)
    max_gripper_force: float = 0.0  # N; 0 = the robot profile's gripper max_force
    motion_rate_hz: float = 5.0  # motion commands per second (bursts of twice that are allowed)
    supervised: bool = False  # each motion waits for an operator's confirmation
    confirm_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if not 0.0 < self.max_speed <= 1.0:
            raise InvalidArgumentError(f"max_speed must be in (0, 1], got {self.max_speed}")
        if self.max_gripper_force < 0.0 or self.motion_rate_hz <= 0.0 or self.confirm_timeout_s <= 0.0:
            raise InvalidArgumentError(
                "max_gripper_force must be >= 0, motion_rate_hz and confirm_timeout_s > 0; got "
                f"{self.max_gripper_force}, {self.motion_rate_hz}, {self.confirm_timeout_s}"
            )


# The operator's answer in supervised mode: (description of the motion, timeout) -> approved.
Confirm = Callable[[str, float], bool]


class ActuationGate:
    def __init__(
        self,
        profile: RobotProfile,
        joint_limits: tuple[Iterable[float], Iterable[float]],
        limits: GateLimits | None = None,
        allowed: Iterable[str] = (),
        confirm: Confirm | None = None,
    ) -> None:
        self.profile, self.limits = profile, limits or GateLimits()
        self.lower, self.upper = (np.asarray(v, dtype=float) for v in joint_limits)
        self.allowed = frozenset(allowed)
        self.confirm = confirm
        if self.limits.supervised and confirm is None:
            raise InvalidArgumentError("supervised mode needs a way to ask the operator (confirm)")
        gripper = profile.gripper
        self.max_force = self.limits.max_gripper_force or (gripper.max_force if gripper else 0.0)
        self._tokens, self._stamp = 2 * self.limits.motion_rate_hz, time.monotonic()
        self._lock = threading.Lock()

    def allow(self, name: str) -> None:
        """Refuse a client for a service or action that is not on the allowlist."""
        if name not in self.allowed:
            raise OutOfLimitsError(
                f"the tools may not call {name!r}; allowed: {', '.join(sorted(self.allowed))} (the agent's "
                "allowed_endpoints parameter adds more)"
            )

    def admit(self, goal: object) -> object:
        """Check (and cap) a goal before it is sent; returns the goal to send, or raises."""
        if not isinstance(goal, MOTION_GOALS):
            return goal
        if channel.cancel_pending():
            raise CanceledError("a cancel is pending: no new motion is started")
        if isinstance(goal, MoveArm.Goal):
            description = self._check_move(goal)
        elif isinstance(goal, NavigateBase.Goal):
            description = self._check_drive(goal)
        elif isinstance(goal, FollowJointTrajectory.Goal):
            description = self._check_body(goal)
        else:
            description = self._check_gripper(goal)
        self._take_token()
        if self.limits.supervised:
            assert self.confirm is not None
            if not self.confirm(description, self.limits.confirm_timeout_s):
                raise CanceledError(f"the operator did not confirm the motion ({description})")
        return goal

    def _take_token(self) -> None:
        rate = self.limits.motion_rate_hz
        with self._lock:
            now = time.monotonic()
            self._tokens = min(2 * rate, self._tokens + (now - self._stamp) * rate)
            self._stamp = now
            if self._tokens < 1.0:
                raise OutOfLimitsError(
                    f"motion commands are limited to {rate:g} per second (bursts of {2 * rate:g}); "
                    "make fewer, larger moves"
                )
            self._tokens -= 1.0

    def _check_move(self, goal: MoveArm.Goal) -> str:
        speed = float(goal.velocity_scaling)
        if not math.isfinite(speed) or not 0.0 <= speed <= 1.0:
            raise InvalidArgumentError(f"speed (velocity_scaling) must be in [0, 1], got {speed}")
        if speed == 0.0 or speed > self.limits.max_speed:  # 0 = the node's default: cap it too
            goal.velocity_scaling = float(min(speed or 1.0, self.limits.max_speed))
        if goal.mode == MoveArm.Goal.JOINTS:
            return self._check_joints(goal)
        if goal.mode not in (MoveArm.Goal.POSE, MoveArm.Goal.WAYPOINTS) or not goal.waypoints:
            raise InvalidArgumentError(
                f"a motion needs a target (mode {goal.mode}, {len(goal.waypoints)} poses)"
            )
        workspace = self.profile.workspace
        for k, pose in enumerate(goal.waypoints):
            frame = pose.header.frame_id
            if frame not in ("", self.profile.base_frame):
                raise InvalidArgumentError(
                    f"target {k} is in frame {frame!r}; the tools send targets in {self.profile.base_frame!r}"
                )
            p = pose.pose.position
            point = np.array([p.x, p.y, p.z])
            if not np.isfinite(point).all() or not workspace.contains(point):
                raise OutOfLimitsError(
                    f"target {np.round(point, 3).tolist()} is outside the workspace {workspace.describe()} "
                    f"({self.profile.base_frame} frame)"
                )
        last = goal.waypoints[-1].pose.position
        target = np.round([last.x, last.y, last.z], 3).tolist()
        return f"move the gripper to {target} at speed {goal.velocity_scaling:.2f}"

    def _check_joints(self, goal: MoveArm.Goal) -> str:
        joints = self.profile.arm.joints if self.profile.arm else ()
        names, values = list(goal.joint_names), np.asarray(goal.joint_positions, dtype=float)
        if len(names) != len(values) or not names or any(n not in joints for n in names):
            raise InvalidArgumentError(f"joint goal names {names} must be arm joints: {', '.join(joints)}")
        for name, value in zip(names, values, strict=True):
            i = joints.index(name)
            if not math.isfinite(value) or not self.lower[i] <= value <= self.upper[i]:
                raise OutOfLimitsError(
                    f"{name} = {value:.4f} rad is outside its limits "
                    f"[{self.lower[i]:.4f}, {self.upper[i]:.4f}]"
                )
        return f"move the joints to {np.round(values, 3).tolist()} at speed {goal.velocity_scaling:.2f}"

    def _check_drive(self, goal: NavigateBase.Goal) -> str:
        if self.profile.base is None:
            raise InvalidArgumentError(f"the {self.profile.name} has no mobile base to drive")
        frame, p = goal.goal.header.frame_id, goal.goal.pose.position
        if frame not in ("", self.profile.fixed_frame):
            raise InvalidArgumentError(
                f"a base goal is in frame {frame!r}; the tools send them in {self.profile.fixed_frame!r}"
            )
        q = goal.goal.pose.orientation
        values = [
            p.x,
            p.y,
            p.z,
            q.w,
            q.x,
            q.y,
            q.z,
            goal.position_tolerance,
            goal.yaw_tolerance,
            goal.timeout,
        ]
        if not all(math.isfinite(v) for v in values):
            raise InvalidArgumentError(f"a base goal must be finite; got position ({p.x}, {p.y})")
        return f"drive the base to ({p.x:.2f}, {p.y:.2f}) in {self.profile.fixed_frame}"

    def _check_body(self, goal: FollowJointTrajectory.Goal) -> str:
        """The tools send trajectories only for a legged base's body (height, pitch), within its limits."""
        names = list(goal.trajectory.joint_names)
        if names != [HEIGHT_JOINT, PITCH_JOINT] or self.profile.base is None or not goal.trajectory.points:
            raise InvalidArgumentError(
                f"tool trajectories move only the body ({HEIGHT_JOINT}, {PITCH_JOINT}); got {names}"
            )
        for point in goal.trajectory.points:
            if len(point.positions) != 2:
                raise InvalidArgumentError(
                    f"a body trajectory point needs 2 positions; got {len(point.positions)}"
                )
            BodyPosture(*(float(v) for v in point.positions)).check(self.profile.base)
        height, pitch = goal.trajectory.points[-1].positions[:2]
        return f"move the body to height {height:+.2f} m, pitch {math.degrees(pitch):.0f} deg"

    def _check_gripper(self, goal: GripperCommand.Goal) -> str:
        gripper = self.profile.gripper
        position, force = float(goal.command.position), float(goal.command.max_effort)
        top = gripper.max_width if gripper else 0.0
        if not math.isfinite(position) or not 0.0 <= position <= top:
            raise OutOfLimitsError(f"gripper position {position} is outside [0, {top}] m")
        if not math.isfinite(force) or force < 0.0:
            raise InvalidArgumentError(f"gripper force must be >= 0 N, got {force}")
        if force > self.max_force:
            raise OutOfLimitsError(
                f"gripper force {force:g} N is above the limit of {self.max_force:g} N (max_gripper_force)"
            )
        return f"move the gripper fingers to {position:.3f} with at most {force:g} N"
