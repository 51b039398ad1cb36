"""The simulated robot's controllers, served as ros2_control's are: the standard control_msgs actions.

- ``arm_controller/follow_joint_trajectory`` (control_msgs/action/FollowJointTrajectory), like
  joint_trajectory_controller: result codes INVALID_JOINTS / INVALID_GOAL for a bad goal,
  GOAL_TOLERANCE_VIOLATED when the arm ends (or stalls) away from the last point; feedback carries
  desired, actual and error; a cancel holds the arm where it is.
- ``body_controller/follow_joint_trajectory`` (the same action and server code), when the world has a body
  that moves (a legged base: ``sim.mobile.body``): the virtual joints ``body_height`` (m from the stand)
  and ``body_pitch`` (rad, + = nose down).
- ``gripper_controller/gripper_cmd`` (control_msgs/action/GripperCommand), like
  gripper_action_controller with stalling allowed and franka_gripper's convention: ``position`` is one
  finger joint's position (half the opening for two fingers). The fingers move at the gripper's speed
  and squeeze what stops them with ``max_effort`` newtons (<= 0: the sim's ``grasp_force``; capped at
  the gripper's ``max_force``). The result comes once the fingers have stopped: ``position`` where they
  stopped, ``effort`` the squeeze, ``reached_goal`` within 1 mm, ``stalled`` when they stopped short
  (on an object). Whether something is held is the client's judgement from the final width, as on a
  real gripper: no contact ground truth crosses this interface.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from control_msgs.action import FollowJointTrajectory, GripperCommand
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectoryPoint

from maestro_tools.common.conversions import seconds_to_time
from maestro_tools.common.errors import ErrorCode, MaestroError, OutOfLimitsError
from maestro_tools.sim.control import Trajectory, validate_trajectory
from maestro_tools.sim.runner import Job, PhysicsRunner
from maestro_tools.sim.world import SimWorld

if TYPE_CHECKING:  # the mobile robot's world has the same members
    from maestro_tools.sim.mobile.world import MobileWorld

ARM_ACTION = "arm_controller/follow_joint_trajectory"
BODY_ACTION = "body_controller/follow_joint_trajectory"
GRIPPER_ACTION = "gripper_controller/gripper_cmd"
GRIPPER_REACHED = 0.001  # m of opening within which a gripper goal counts as reached


def _seconds(duration: Any) -> float:
    return duration.sec + duration.nanosec * 1e-9


def _point(positions: Any, elapsed: float) -> JointTrajectoryPoint:
    return JointTrajectoryPoint(
        positions=[float(p) for p in positions], time_from_start=seconds_to_time(max(elapsed, 0.0))
    )


def _follow(
    runner: PhysicsRunner,
    handle: ServerGoalHandle,
    job: Job,
    cancel: Callable[[], None],
    feedback: Callable[[Job], Any],
) -> bool:
    """Wait for ``job`` while streaming feedback; False if the client cancelled (then ``cancel`` ran)."""
    while not job.done.wait(0.02):
        if handle.is_cancel_requested:
            runner.call(cancel)
            return False
        if not handle.is_active:
            return False
        handle.publish_feedback(feedback(job))
    return True


@dataclass(frozen=True)
class JointGroup:
    """What one FollowJointTrajectory server drives; the callables run in the physics thread except
    ``joints`` and ``validate`` (pure checks)."""

    what: str  # "arm", "body": named in messages
    joints: Callable[[], Sequence[str]]
    validate: Callable[[list[str], list[float], list[list[float]]], Trajectory]  # raises MaestroError
    start: Callable[[Trajectory, dict[str, float]], Job]  # (trajectory, tolerances by joint) -> its job
    cancel: Callable[[Job], None]  # stop it and hold


def _tightest(tolerances: dict[str, float]) -> float:
    """One tolerance for every joint (the arm's): the tightest given, 0 = the node's default."""
    return min(tolerances.values(), default=0.0)


class SimControllers:
    """The arm and gripper action servers of the sim node, in the node's namespace, and the body's when
    ``world`` has one (``MobileWorld.body`` with joints)."""

    def __init__(
        self, node: Node, world: SimWorld | MobileWorld, runner: PhysicsRunner, group: CallbackGroup
    ) -> None:
        self.node, self.world, self.runner = node, world, runner
        accept = {
            "goal_callback": lambda _: GoalResponse.ACCEPT,
            "cancel_callback": lambda _: CancelResponse.ACCEPT,
            "callback_group": group,
        }
        arm = JointGroup(
            "arm",
            lambda: self.world.limits.names,
            lambda names, times, points: validate_trajectory(self.world.limits, names, times, points),
            lambda trajectory, tolerances: self.runner.start_trajectory(trajectory, _tightest(tolerances)),
            lambda job: self.runner.cancel_trajectory(job),
        )
        self.arm = ActionServer(
            node, FollowJointTrajectory, ARM_ACTION, lambda handle: self.follow(handle, arm), **accept
        )
        self.gripper = ActionServer(node, GripperCommand, GRIPPER_ACTION, self.grip, **accept)
        self.body: ActionServer | None = None
        body = getattr(world, "body", None)  # re-read at each goal: a reset makes a new one
        if body is not None and body.joints:
            mobile: Any = world
            group_body = JointGroup(
                "body",
                lambda: mobile.body.joints,
                lambda names, times, points: mobile.body.validate(names, times, points),
                lambda trajectory, tolerances: mobile.body.start(trajectory, tolerances, mobile.time),
                lambda job: mobile.body.cancel(job),
            )
            self.body = ActionServer(
                node, FollowJointTrajectory, BODY_ACTION, lambda h: self.follow(h, group_body), **accept
            )

    def destroy(self) -> None:
        self.arm.destroy()
        self.gripper.destroy()
        if self.body is not None:
            self.body.destroy()

    # -- arm -------------------------------------------------------------------------------------
    def _tolerances(self, goal: FollowJointTrajectory.Goal) -> dict[str, float]:
        """The goal's positive position tolerances by joint name (an unnamed one: every joint); the arm
        takes the tightest, the body each joint's own; a joint without one keeps the node's default."""
        given: dict[str, float] = {}
        for t in goal.goal_tolerance:
            if t.position > 0 and np.isfinite(t.position):
                given[t.name] = min(t.position, given.get(t.name, math.inf))
        return given

    def follow(self, handle: ServerGoalHandle, group: JointGroup) -> FollowJointTrajectory.Result:
        goal, result = handle.request, FollowJointTrajectory.Result()
        trajectory = goal.trajectory
        names = list(trajectory.joint_names)
        try:
            valid = list(group.joints())
            unknown = [n for n in names if n not in valid]
            if unknown or not names:
                result.error_code = FollowJointTrajectory.Result.INVALID_JOINTS
                raise MaestroError(
                    f"unknown joint(s) {unknown or names}; {group.what} joints: {', '.join(valid)}"
                )
            result.error_code = FollowJointTrajectory.Result.INVALID_GOAL
            checked = group.validate(
                names,
                [_seconds(p.time_from_start) for p in trajectory.points],
                [list(p.positions) for p in trajectory.points],
            )
            tolerances = self._tolerances(goal)
            job = self.runner.call(lambda: group.start(checked, tolerances))
        except MaestroError as exc:
            result.error_string = str(exc)
            self.node.get_logger().warning(f"{group.what} trajectory rejected: {exc}")
            handle.abort()
            return result

        def feedback(job: Job) -> FollowJointTrajectory.Feedback:
            details = job.details
            desired = np.asarray(details.get("desired", []), dtype=float)
            actual = np.asarray(details.get("actual", []), dtype=float)
            elapsed = float(details.get("elapsed", 0.0))
            message = FollowJointTrajectory.Feedback(joint_names=names)
            message.header.stamp = seconds_to_time(self.world.time)
            message.desired, message.actual = _point(desired, elapsed), _point(actual, elapsed)
            if len(desired) == len(actual):
                message.error = _point(desired - actual, elapsed)
            return message

        if not _follow(self.runner, handle, job, lambda: group.cancel(job), feedback):
            result.error_code = FollowJointTrajectory.Result.SUCCESSFUL
            result.error_string = f"canceled; the {group.what} holds its position"
            handle.canceled()
            return result
        if job.code == ErrorCode.OK:
            result.error_code, result.error_string = FollowJointTrajectory.Result.SUCCESSFUL, job.message
            handle.succeed()
        else:  # stalled away from the goal, or preempted by a reset or a newer goal
            result.error_code = FollowJointTrajectory.Result.GOAL_TOLERANCE_VIOLATED
            result.error_string = job.message
            handle.abort()
        return result

    # -- gripper ---------------------------------------------------------------------------------
    def grip(self, handle: ServerGoalHandle) -> GripperCommand.Result:
        command, result = handle.request.command, GripperCommand.Result()
        fingers = len(self.world.gripper.finger_joints)
        target = float(command.position) * fingers
        effort = float(command.max_effort)

        def start() -> Job:
            job = self.runner.start_gripper(target)  # checks the width, preempts, watches the fingers
            self.world.set_gripper(target, effort)  # the same motion, squeezing with the goal's force
            return job

        try:
            if not np.isfinite(target) or not np.isfinite(effort):
                raise OutOfLimitsError(
                    f"gripper goal must be finite; got position {command.position}, max_effort {effort}"
                )
            job = self.runner.call(start)
        except MaestroError as exc:
            self.node.get_logger().warning(f"gripper goal rejected: {exc}")
            handle.abort()
            return result

        def feedback(job: Job) -> GripperCommand.Feedback:
            width = float(job.details.get("width", 0.0))
            return GripperCommand.Feedback(position=width / fingers, reached_goal=False, stalled=False)

        if not _follow(self.runner, handle, job, lambda: None, feedback):
            handle.canceled()
            return result
        width = float(job.details.get("width", self.world.gripper_width()))
        result.position = width / fingers
        result.effort = self.runner.call(self.world.gripper_effort)
        result.reached_goal = abs(width - target) <= GRIPPER_REACHED
        result.stalled = not result.reached_goal and job.code == ErrorCode.OK
        (handle.succeed if job.code == ErrorCode.OK else handle.abort)()
        return result
