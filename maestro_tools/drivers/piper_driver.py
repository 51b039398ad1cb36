"""The ``piper_driver``: the AgileX PiPER arm and gripper as a ROS 2 node, through piper_sdk over CAN.

- ``arm_controller/follow_joint_trajectory`` (control_msgs FollowJointTrajectory, the sim's and
  ros2_control's name): the trajectory, from the measured start, is sampled at ``command_rate`` and each
  sample sent as ``MotionCtrl_2`` (CAN control, MOVE J, ``speed_percent``) + ``JointCtrl`` (0.001 deg). The
  goal succeeds when every joint is within ``goal_tolerance`` of the last point, else ends
  GOAL_TOLERANCE_VIOLATED after ``settle_timeout``; unknown joints give INVALID_JOINTS, positions outside
  the SDK's joint limits INVALID_GOAL; a cancel (or a newer goal) holds the arm where it is.
- ``gripper_controller/gripper_cmd`` (control_msgs GripperCommand): ``position`` one finger's travel (half
  the opening), ``max_effort`` newtons (<= 0: the profile's grasp force) -> ``GripperCtrl`` (0.001 mm,
  0.001 N*m); the result once the fingers stop: reached within ``gripper_tolerance``, else stalled
  (on an object).
- ``joint_states``: the six arm joints and the two fingers (half the opening each) from the SDK's joint and
  gripper feedback, at ``joint_state_rate``.

At start-up the arm is enabled (``EnableArm(7)`` until all six drivers report enabled) and the gripper
enabled at its current opening. The bus: ``socketcan`` on ``can0`` for the robot (the SDK's default);
``socketcand`` with a host and port for a CAN bus served over TCP (the simulation's, on 127.0.0.1).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Sequence

import numpy as np
from control_msgs.action import FollowJointTrajectory, GripperCommand
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectoryPoint

from maestro_tools.common.conversions import seconds_to_time
from maestro_tools.common.errors import InvalidArgumentError, MaestroError, UnavailableError
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.qos import STATE_QOS
from maestro_tools.drivers import piper_units as units
from maestro_tools.robots import get_robot

ARM_ACTION = "arm_controller/follow_joint_trajectory"  # the names the sim serves (sim/controllers.py)
GRIPPER_ACTION = "gripper_controller/gripper_cmd"
GRIPPER_STILL = 0.0005  # m of opening change over GRIPPER_WINDOW s: the fingers stopped
GRIPPER_WINDOW = 0.5
CAN_CONTROL, MOVE_J, GRIPPER_ENABLE = 0x01, 0x01, 0x01


class PiperDriver(Node):
    def __init__(self) -> None:
        super().__init__("piper_driver")
        robot = declare(self, "robot", "go2w_piper", "Robot profile naming the arm's joints and gripper")
        profile = get_robot(robot)
        if profile.arm is None or profile.gripper is None:
            raise InvalidArgumentError(f"the robot {robot!r} has no arm and gripper")
        self.joints, self.fingers = list(profile.arm.joints), list(profile.gripper.finger_joints)
        self.gripper = profile.gripper
        interface = declare(
            self,
            "can_interface",
            "socketcan",
            "python-can interface of the arm's CAN bus: socketcan (the robot's can0), socketcand (a bus "
            "served over TCP, as the simulation does), slcan, virtual",
            choices=units.CAN_INTERFACES,
        )
        channel = declare(self, "can_channel", "can0", "CAN channel (interface name) the arm is on")
        host = declare(self, "can_host", "127.0.0.1", "socketcand server address (can_interface socketcand)")
        port = declare(self, "can_port", 29536, "socketcand server port", minimum=1, maximum=65535)
        self.speed = declare(
            self,
            "speed_percent",
            100,
            "MotionCtrl_2 speed (% of the arm's joint speed)",
            minimum=1,
            maximum=100,
        )
        rate = declare(
            self, "command_rate", 50.0, "Trajectory samples sent per second", minimum=5.0, maximum=200.0
        )
        self.period = 1.0 / rate
        self.tolerance = declare(
            self,
            "goal_tolerance",
            0.02,
            "Per-joint goal tolerance, rad (a goal's own one wins)",
            minimum=0.001,
        )
        self.settle = declare(
            self,
            "settle_timeout",
            2.0,
            "Seconds after a trajectory's end to reach the tolerance",
            minimum=0.1,
        )
        self.gripper_tolerance = declare(
            self,
            "gripper_tolerance",
            0.003,
            "Opening error (m) within which a gripper goal is reached (else stalled, once the fingers stop)",
            minimum=0.0005,
            maximum=0.02,
        )
        enable_timeout = declare(
            self,
            "enable_timeout",
            5.0,
            "Seconds to wait for the arm to report all drivers enabled",
            minimum=0.5,
        )
        state_rate = declare(
            self, "joint_state_rate", 100.0, "joint_states messages per second", minimum=1.0, maximum=500.0
        )
        self._send_lock = threading.Lock()  # the SDK's send socket is written from several threads
        self._active: ServerGoalHandle | None = None

        units.configure_can(interface, host, port)
        from piper_sdk import C_PiperInterface_V2  # imported here: the module imports without the SDK

        self.piper = C_PiperInterface_V2(channel, judge_flag=False, can_auto_init=False)
        self.piper.CreateCanBus(channel, bustype=interface, judge_flag=False)
        self.piper.ConnectPort()
        self._enable(enable_timeout)
        self.joint_pub = self.create_publisher(JointState, "joint_states", STATE_QOS)
        self.create_timer(1.0 / state_rate, self.publish_joint_state, MutuallyExclusiveCallbackGroup())
        group = ReentrantCallbackGroup()
        options = {"cancel_callback": lambda _: CancelResponse.ACCEPT, "callback_group": group}
        accept = {"goal_callback": lambda _: GoalResponse.ACCEPT, **options}
        self.arm_server = ActionServer(self, FollowJointTrajectory, ARM_ACTION, self.follow, **accept)
        self.gripper_server = ActionServer(self, GripperCommand, GRIPPER_ACTION, self.grip, **accept)
        self.get_logger().info(f"piper_driver: PiPER on {interface}:{channel}, enabled")

    def _enable(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._send_lock:
                self.piper.EnableArm(7)
            time.sleep(0.1)
            # The gripper is enabled holding its measured opening: never before that has been read (a 0
            # read before the first gripper feedback would close it on whatever is there).
            if all(self.piper.GetArmEnableStatus()) and self.piper.GetArmGripperMsgs().time_stamp > 0:
                with self._send_lock:
                    self.piper.GripperCtrl(units.width_to_micrometres(self.width()), 0, GRIPPER_ENABLE, 0)
                return
        raise UnavailableError(
            f"the PiPER did not report its six joint drivers enabled and its gripper's state within "
            f"{timeout:g} s (is it powered, and is the CAN bus up?)"
        )

    def close(self) -> None:
        self._active = None
        # piper_sdk 0.6.2 closes the bus under its reading thread (its join checks a misspelt attribute),
        # which python-can then logs as a receive error with a traceback: expected here, so quiet.
        logging.getLogger(units.SOCKETCAND_LOGGER).setLevel(logging.CRITICAL)
        self.piper.DisconnectPort()

    # -- feedback --------------------------------------------------------------------------------
    def positions(self) -> np.ndarray:
        js = self.piper.GetArmJointMsgs().joint_state
        raw = (js.joint_1, js.joint_2, js.joint_3, js.joint_4, js.joint_5, js.joint_6)
        return np.array([units.millidegrees_to_rad(v) for v in raw])

    def width(self) -> float:
        return units.micrometres_to_width(self.piper.GetArmGripperMsgs().gripper_state.grippers_angle)

    def publish_joint_state(self) -> None:
        if self.piper.GetArmJointMsgs().time_stamp <= 0:
            return  # no feedback yet
        half = self.width() / len(self.fingers)
        self.joint_pub.publish(
            JointState(
                header=Header(stamp=self.get_clock().now().to_msg()),
                name=[*self.joints, *self.fingers],
                position=[*self.positions().tolist(), *([half] * len(self.fingers))],
            )
        )

    def _send_joints(self, positions: np.ndarray) -> None:
        values = [units.rad_to_millidegrees(float(q)) for q in positions]
        with self._send_lock:
            self.piper.MotionCtrl_2(CAN_CONTROL, MOVE_J, self.speed, 0x00)
            self.piper.JointCtrl(*values)

    # -- the arm ---------------------------------------------------------------------------------
    def follow(self, handle: ServerGoalHandle) -> FollowJointTrajectory.Result:
        result, trajectory = FollowJointTrajectory.Result(), handle.request.trajectory
        names = list(trajectory.joint_names)
        try:
            unknown = [n for n in names if n not in self.joints]
            result.error_code = (
                FollowJointTrajectory.Result.INVALID_JOINTS
                if unknown or not names
                else FollowJointTrajectory.Result.INVALID_GOAL
            )
            times = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in trajectory.points]
            plan = units.SampledTrajectory(
                self.joints, self.positions(), names, times, [list(p.positions) for p in trajectory.points]
            )
        except MaestroError as exc:
            result.error_string = str(exc)
            self.get_logger().warning(f"trajectory rejected: {exc}")
            handle.abort()
            return result
        given = [t.position for t in handle.request.goal_tolerance if t.position > 0]
        tolerance = float(min(given)) if given else self.tolerance
        self._active = handle
        start = time.monotonic()
        while True:
            elapsed = time.monotonic() - start
            if handle.is_cancel_requested or self._active is not handle:
                self._send_joints(self.positions())  # hold where it is
                result.error_string = "canceled; the arm holds its position"
                if handle.is_cancel_requested:
                    handle.canceled()
                else:
                    result.error_code = FollowJointTrajectory.Result.GOAL_TOLERANCE_VIOLATED
                    result.error_string = "preempted by a newer trajectory goal"
                    handle.abort()
                return result
            desired = plan.sample(elapsed)
            self._send_joints(desired)
            actual = self.positions()
            error = np.abs(actual - plan.goal)[plan.columns]
            if elapsed >= plan.duration and error.max() <= tolerance:
                break
            if elapsed >= plan.duration + self.settle:
                worst = plan.columns[int(np.argmax(error))]
                result.error_code = FollowJointTrajectory.Result.GOAL_TOLERANCE_VIOLATED
                result.error_string = (
                    f"{self.joints[worst]} is {error.max():.3f} rad from its goal {self.settle:g} s after "
                    "the trajectory ended (blocked?)"
                )
                self._active = None
                handle.abort()
                return result
            handle.publish_feedback(self._feedback(names, plan.columns, desired, actual, elapsed))
            time.sleep(self.period)
        self._active = None
        result.error_code, result.error_string = (
            FollowJointTrajectory.Result.SUCCESSFUL,
            "trajectory complete",
        )
        handle.succeed()
        return result

    def _feedback(
        self, names: list[str], columns: list[int], desired: np.ndarray, actual: np.ndarray, elapsed: float
    ) -> FollowJointTrajectory.Feedback:
        def point(values: np.ndarray) -> JointTrajectoryPoint:
            return JointTrajectoryPoint(
                positions=values[columns].tolist(), time_from_start=seconds_to_time(elapsed)
            )

        message = FollowJointTrajectory.Feedback(
            joint_names=names, header=Header(stamp=self.get_clock().now().to_msg())
        )
        message.desired, message.actual, message.error = (
            point(desired),
            point(actual),
            point(desired - actual),
        )
        return message

    # -- the gripper -----------------------------------------------------------------------------
    def grip(self, handle: ServerGoalHandle) -> GripperCommand.Result:
        command, result = handle.request.command, GripperCommand.Result()
        target = float(command.position) * len(self.fingers)
        force = float(command.max_effort) if command.max_effort > 0 else self.gripper.grasp_force
        if not (np.isfinite(target) and 0.0 <= target <= self.gripper.max_width and np.isfinite(force)):
            self.get_logger().warning(
                f"gripper goal rejected: opening {target} m outside [0, {self.gripper.max_width}]"
            )
            handle.abort()
            return result
        effort = units.force_to_effort(force, self.gripper.max_force)
        history: list[tuple[float, float]] = []
        start = time.monotonic()
        while not handle.is_cancel_requested:
            with self._send_lock:
                self.piper.GripperCtrl(units.width_to_micrometres(target), effort, GRIPPER_ENABLE, 0)
            now, width = time.monotonic(), self.width()
            history.append((now, width))
            handle.publish_feedback(GripperCommand.Feedback(position=width / len(self.fingers)))
            if abs(width - target) <= self.gripper_tolerance and now - start > GRIPPER_WINDOW:
                break
            recent = [w for t, w in history if t >= now - GRIPPER_WINDOW]
            if now - start > 2 * GRIPPER_WINDOW and max(recent) - min(recent) < GRIPPER_STILL:
                break  # stopped short: on an object
            if now - start > 10.0:
                break
            time.sleep(self.period)
        width = self.width()
        result.position = width / len(self.fingers)
        feedback = self.piper.GetArmGripperMsgs().gripper_state
        result.effort = units.effort_to_force(feedback.grippers_effort, self.gripper.max_force)
        result.reached_goal = abs(width - target) <= self.gripper_tolerance
        result.stalled = not result.reached_goal
        if handle.is_cancel_requested:
            handle.canceled()
        else:
            handle.succeed()
        return result


def main(args: Sequence[str] | None = None) -> int:
    return run_node(PiperDriver, args)


if __name__ == "__main__":
    sys.exit(main())
