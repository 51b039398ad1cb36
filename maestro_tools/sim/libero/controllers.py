"""The LIBERO arm and gripper as ros2_control serves them: control_msgs FollowJointTrajectory on
``arm_controller/follow_joint_trajectory`` and GripperCommand on ``gripper_controller/gripper_cmd``
(the names and result conventions of the Franka sim's controllers.py). Jobs run in the sim thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from control_msgs.action import FollowJointTrajectory, GripperCommand
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectoryPoint

from maestro_tools.common.conversions import seconds_to_time
from maestro_tools.robots.libero import LIBERO
from maestro_tools.sim.libero.runner import GRIPPER_REACHED, ArmJob, Job, SimThread

assert LIBERO.arm is not None and LIBERO.gripper is not None
ARM_JOINTS = LIBERO.arm.joints  # the profile's names, in LIBERO's joint order
FINGERS = len(LIBERO.gripper.finger_joints)
MAX_WIDTH = LIBERO.gripper.max_width


def _seconds(duration: Any) -> float:
    return duration.sec + duration.nanosec * 1e-9


def _point(positions: Any, elapsed: float) -> JointTrajectoryPoint:
    return JointTrajectoryPoint(
        positions=[float(p) for p in positions], time_from_start=seconds_to_time(elapsed)
    )


class LiberoControllers:
    def __init__(self, node: Node, sim: SimThread, group: CallbackGroup) -> None:
        self.node, self.sim = node, sim
        accept = {
            "goal_callback": lambda _: GoalResponse.ACCEPT,
            "cancel_callback": lambda _: CancelResponse.ACCEPT,
            "callback_group": group,
        }
        self.arm = ActionServer(
            node, FollowJointTrajectory, "arm_controller/follow_joint_trajectory", self.follow, **accept
        )
        self.gripper = ActionServer(
            node, GripperCommand, "gripper_controller/gripper_cmd", self.grip, **accept
        )

    def _wait(self, handle: ServerGoalHandle, job: Job, feedback: Any, on_cancel: Any) -> bool:
        while not job.done.wait(0.05):
            if handle.is_cancel_requested:
                self.sim.call(on_cancel)
                return False
            handle.publish_feedback(feedback())
        return True

    def follow(self, handle: ServerGoalHandle) -> FollowJointTrajectory.Result:
        result, trajectory = FollowJointTrajectory.Result(), handle.request.trajectory
        names = list(trajectory.joint_names)
        unknown = [n for n in names if n not in ARM_JOINTS]
        times = np.array([_seconds(p.time_from_start) for p in trajectory.points])
        bad = ""
        if unknown or not names:
            result.error_code = FollowJointTrajectory.Result.INVALID_JOINTS
            bad = f"unknown joint(s) {unknown or names}; arm joints: {', '.join(ARM_JOINTS)}"
        elif (
            not len(times)
            or np.any(np.diff(times) <= 0)
            or any(len(p.positions) != len(names) for p in trajectory.points)
        ):
            result.error_code = FollowJointTrajectory.Result.INVALID_GOAL
            bad = "want points with one position per joint and strictly increasing times"
        if bad:
            result.error_string = bad
            self.node.get_logger().warning(f"arm trajectory rejected: {bad}")
            handle.abort()
            return result
        tolerances = [t.position for t in handle.request.goal_tolerance if t.position > 0]
        tolerance = 0.003  # m of TCP position (orientation: 10x in rad); joint tolerances do not apply

        def start() -> ArmJob:
            current = self.sim._world.joints()[0]
            points = np.tile(current, (len(times), 1))
            for k, point in enumerate(trajectory.points):
                for name, value in zip(names, point.positions, strict=True):
                    points[k, ARM_JOINTS.index(name)] = value
            return self.sim.start_arm(times, points, tolerance)

        job = self.sim.call(start)

        def feedback() -> FollowJointTrajectory.Feedback:
            details = dict(job.details)
            desired, actual = details.get("desired", []), details.get("actual", [])
            elapsed = float(details.get("elapsed", 0.0))
            message = FollowJointTrajectory.Feedback(joint_names=list(ARM_JOINTS))
            message.desired, message.actual = _point(desired, elapsed), _point(actual, elapsed)
            if len(desired) == len(actual):
                message.error = _point(np.subtract(desired, actual), elapsed)
            return message

        if not self._wait(handle, job, feedback, lambda: self.sim.cancel_arm(job)):
            result.error_code, result.error_string = 0, "canceled; the arm holds its position"
            handle.canceled()
            return result
        result.error_string = job.message + (
            f" (joint tolerances {tolerances} not checked)" if tolerances else ""
        )
        if job.ok:
            result.error_code = FollowJointTrajectory.Result.SUCCESSFUL
            handle.succeed()
        else:
            result.error_code = (
                FollowJointTrajectory.Result.PATH_TOLERANCE_VIOLATED
                if job.blocked
                else FollowJointTrajectory.Result.GOAL_TOLERANCE_VIOLATED
            )
            handle.abort()
        return result

    def grip(self, handle: ServerGoalHandle) -> GripperCommand.Result:
        command, result = handle.request.command, GripperCommand.Result()
        target = float(command.position) * FINGERS
        if not np.isfinite(target) or not 0.0 <= target <= MAX_WIDTH:
            self.node.get_logger().warning(
                f"gripper goal rejected: opening {target} m not in [0, {MAX_WIDTH}]"
            )
            handle.abort()
            return result
        job = self.sim.call(lambda: self.sim.start_gripper(target))

        def feedback() -> GripperCommand.Feedback:
            width = float(job.details.get("width", 0.0))
            return GripperCommand.Feedback(position=width / FINGERS, reached_goal=False, stalled=False)

        if not self._wait(handle, job, feedback, lambda: None):
            handle.canceled()
            return result
        width = float(job.details.get("width", 0.0))
        result.position, result.effort = width / FINGERS, 0.0
        result.reached_goal = abs(width - target) <= GRIPPER_REACHED
        result.stalled = not result.reached_goal and job.ok
        (handle.succeed if job.ok else handle.abort)()
        return result
