"""A fake of franka_ros2's robot interface, in-process, for testing the `sim:=false` bringup here.

It serves what franka_bringup starts, under the same names and semantics:
- ``/fr3_arm_controller/follow_joint_trajectory`` (joint_trajectory_controller): ``fr3_joint1..7``,
  the joints follow the trajectory linearly in time, feedback desired/actual/error, cancel holds;
- ``/franka_gripper/gripper_action`` (franka_gripper's control_msgs/GripperCommand): ``position`` is
  half the opening; opening moves, closing grasps with franka's epsilon of 5 mm around the target, so
  a close on nothing to 0 *succeeds* with ``reached_goal`` true (the real gripper's behaviour), while a
  close on an object of ``object_width`` stops there and misses the target;
- ``/joint_states`` with ``fr3_joint*`` and ``fr3_finger_joint1/2`` (half the opening each), 100 Hz.
A fake, named as such: it exists only in the tests.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from control_msgs.action import FollowJointTrajectory, GripperCommand
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState

ARM = tuple(f"fr3_joint{i}" for i in range(1, 8))
FINGERS = ("fr3_finger_joint1", "fr3_finger_joint2")
EPSILON = 0.005  # franka_gripper's default epsilon inner/outer, m


class FakeFrankaRos2:
    def __init__(self, node: Node, start: np.ndarray) -> None:
        self.node = node
        self.q = np.asarray(start, dtype=float).copy()
        self.width = 0.08
        self.object_width: float | None = None  # what lies between the fingers
        self.arm_goals: list[FollowJointTrajectory.Goal] = []
        self._lock = threading.Lock()
        group = ReentrantCallbackGroup()
        accept = {
            "goal_callback": lambda _: GoalResponse.ACCEPT,
            "cancel_callback": lambda _: CancelResponse.ACCEPT,
            "callback_group": group,
        }
        self.states = node.create_publisher(JointState, "/joint_states", 10)
        node.create_timer(0.01, self._publish, callback_group=group)
        ActionServer(
            node, FollowJointTrajectory, "/fr3_arm_controller/follow_joint_trajectory", self._follow, **accept
        )
        ActionServer(node, GripperCommand, "/franka_gripper/gripper_action", self._grip, **accept)

    def _publish(self) -> None:
        with self._lock:
            q, half = self.q.tolist(), self.width / 2
        message = JointState(name=[*ARM, *FINGERS], position=[*q, half, half])
        message.header.stamp = self.node.get_clock().now().to_msg()
        self.states.publish(message)

    def _follow(self, handle) -> FollowJointTrajectory.Result:
        goal, result = handle.request, FollowJointTrajectory.Result()
        self.arm_goals.append(goal)
        names = list(goal.trajectory.joint_names)
        if sorted(names) != sorted(ARM):
            result.error_code = FollowJointTrajectory.Result.INVALID_JOINTS
            result.error_string = f"expected {ARM}, got {names}"
            handle.abort()
            return result
        order = [names.index(n) for n in ARM]
        times = [0.0] + [
            p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in goal.trajectory.points
        ]
        with self._lock:
            points = [self.q.copy()] + [np.asarray(p.positions)[order] for p in goal.trajectory.points]
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < times[-1]:
            if handle.is_cancel_requested:
                handle.canceled()
                return result
            k = int(np.searchsorted(times, elapsed, side="right")) - 1
            s = (elapsed - times[k]) / max(times[k + 1] - times[k], 1e-9)
            with self._lock:
                self.q = points[k] + s * (points[k + 1] - points[k])
            feedback = FollowJointTrajectory.Feedback(joint_names=list(ARM))
            feedback.actual.positions = self.q.tolist()
            feedback.desired.positions = self.q.tolist()
            handle.publish_feedback(feedback)
            time.sleep(0.01)
        with self._lock:
            self.q = points[-1]
        result.error_code = FollowJointTrajectory.Result.SUCCESSFUL
        handle.succeed()
        return result

    def _grip(self, handle) -> GripperCommand.Result:
        target = 2 * handle.request.command.position
        result = GripperCommand.Result()
        if not 0.0 <= target <= 0.08:
            handle.abort()
            return result
        time.sleep(0.2)
        with self._lock:
            if target >= self.width or self.object_width is None:
                self.width = target  # a move, or a grasp that meets nothing
            else:
                self.width = max(target, self.object_width)
            result.position = self.width / 2
        result.reached_goal = abs(self.width - target) <= EPSILON
        (handle.succeed if result.reached_goal else handle.abort)()
        return result
