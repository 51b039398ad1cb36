"""The ``go2w_driver``: the Unitree Go2-W's base as a ROS 2 node, through Unitree's sport-mode SDK.

- Subscribes ``cmd_vel`` (geometry_msgs/Twist): checked and clamped to the base's limits (the robot
  profile's, or tighter ones given as parameters; a skid-steer base takes linear.x and angular.z) and sent
  as ``SportClient.Move(vx, 0, vyaw)``. A watchdog (wall time) calls ``StopMove`` when no command came
  for ``cmd_vel_timeout`` s, again at every check until the robot acknowledges it; a zero Twist is sent
  as Move(0, 0, 0). A command that waited in this node's queue longer than ``cmd_vel_timeout`` (a starved
  process) is dropped: sent after the watchdog's stop, it would start the base again.
- Reads ``rt/sportmodestate`` and publishes nav_msgs/Odometry on ``odom`` and the TF ``odom -> base_link``
  (the robot's own odometry; the twist rotated into the base frame), at most ``odom_rate`` Hz.
- Serves ``body_controller/follow_joint_trajectory`` (control_msgs FollowJointTrajectory) on the virtual
  joints ``body_pitch`` (rad, + = nose down) and ``body_height``: the last point's pitch, checked against
  the profile's ``max_pitch``, is sent as ``SportClient.Euler(0, pitch, 0)``, and the goal succeeds once
  rt/sportmodestate's IMU pitch is within the goal's pitch tolerance (default ``BODY_TOLERANCE``; the
  robot moves at its own pace; the trajectory's time is a minimum; ``settle_timeout`` s more are
  allowed). ``body_height`` must stay 0: unitree_sdk2py 1.0.3 has no BodyHeight.

The same node drives the real robot (``network_interface`` the robot's wired interface, ``dds_domain`` 0)
and the simulation (``go2w_sim_node`` with ``vendor_protocols`` on: ``lo`` and the sim's domain). Stamps are
this node's clock (the robot's own clock is not synchronised with the ROS graph's).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import threading
import time
from collections.abc import Sequence

from control_msgs.action import FollowJointTrajectory
from geometry_msgs.msg import TransformStamped, Twist
from nav_msgs.msg import Odometry
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from maestro_tools.common.errors import InvalidArgumentError, MaestroError, UnavailableError
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.qos import STATE_QOS
from maestro_tools.common.twist import VelocityWatchdog, clamp_twist
from maestro_tools.drivers.sport_state import BaseOdometry, odometry_from_sport_state
from maestro_tools.robots import get_robot
from maestro_tools.robots.body_posture import HEIGHT_JOINT, PITCH_JOINT, BodyPosture

TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)  # tf2's dynamic broadcaster QoS
WATCHDOG_RATE = 20.0  # Hz (wall) at which the command's age is checked
BODY_ACTION = "body_controller/follow_joint_trajectory"
BODY_TOLERANCE = 0.03  # rad of pitch within which a body goal counts as reached


class Go2wDriver(Node):
    def __init__(self) -> None:
        super().__init__("go2w_driver")
        robot = declare(self, "robot", "go2w_piper", "Robot profile whose base limits and frames apply")
        profile = get_robot(robot)
        if profile.base is None:
            raise InvalidArgumentError(f"the robot {robot!r} has no base")
        base = profile.base
        interface = declare(
            self,
            "network_interface",
            "eth0",
            "Network interface on which the robot's DDS is reached (its wired link; 'lo' for the sim)",
        )
        domain = declare(
            self,
            "dds_domain",
            0,
            "DDS domain id of the robot's Unitree SDK (0 on the robot)",
            minimum=0,
            maximum=232,
        )
        max_linear = declare(
            self,
            "max_linear",
            base.max_linear,
            "Largest |linear.x| sent to the robot, m/s (at most the profile's limit)",
            minimum=0.01,
            maximum=base.max_linear,
        )
        max_angular = declare(
            self,
            "max_angular",
            base.max_angular,
            "Largest |angular.z| sent to the robot, rad/s (at most the profile's limit)",
            minimum=0.01,
            maximum=base.max_angular,
        )
        timeout = declare(
            self,
            "cmd_vel_timeout",
            0.5,
            "Seconds (wall) without a cmd_vel message after which the driver sends StopMove (a watchdog)",
            minimum=0.05,
            maximum=10.0,
        )
        rpc_timeout = declare(
            self, "rpc_timeout", 1.0, "Seconds to wait for the robot's answer to a sport RPC", minimum=0.1
        )
        self.body_settle = declare(
            self,
            "settle_timeout",
            3.0,
            "Seconds (wall) after a body goal's time for the robot to reach the pitch",
            minimum=0.1,
        )
        self.odom_frame = declare(self, "odom_frame", base.odom_frame, "Frame of the odometry (TF parent)")
        self.base_frame = declare(self, "base_frame", profile.base_frame, "Frame of the base (TF child)")
        self.publish_tf = declare(self, "publish_tf", True, "Publish the TF odom_frame -> base_frame")
        odom_rate = declare(
            self, "odom_rate", 50.0, "Most odom (and TF) messages per second", minimum=1.0, maximum=1000.0
        )
        self.base = dataclasses.replace(base, max_linear=max_linear, max_angular=max_angular)
        self.watchdog = VelocityWatchdog(timeout)
        self.odom_period = 1.0 / odom_rate
        self._last_odom = 0.0
        self._sport_lock = threading.Lock()  # the SDK's client is called from two threads
        self.odom_pub = self.create_publisher(Odometry, "odom", STATE_QOS)
        self.tf_pub = self.create_publisher(TFMessage, "/tf", TF_QOS)
        self.states = 0

        # The SDK (cyclonedds) is imported here: the node's module imports without it.
        from unitree_sdk2py.core.channel import ChannelFactoryInitialize, ChannelSubscriber
        from unitree_sdk2py.go2.sport.sport_client import SportClient
        from unitree_sdk2py.idl.unitree_go.msg.dds_ import SportModeState_

        try:
            ChannelFactoryInitialize(domain, interface)
        except Exception as exc:  # the SDK raises a bare Exception
            raise UnavailableError(f"cannot open DDS domain {domain} on {interface!r}: {exc}") from exc
        self.sport = SportClient()
        self.sport.SetTimeout(rpc_timeout)
        self.sport.Init()
        self.state_sub = ChannelSubscriber("rt/sportmodestate", SportModeState_)
        self.state_sub.Init(self.on_sport_state, 10)
        self.pitch: float | None = None  # the IMU's, from rt/sportmodestate
        ActionServer(
            self,
            FollowJointTrajectory,
            BODY_ACTION,
            self.follow_body,
            goal_callback=lambda _: GoalResponse.ACCEPT,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(),
        )
        self.create_subscription(Twist, "cmd_vel", self.on_cmd_vel, STATE_QOS)  # with its message info
        self.create_timer(1.0 / WATCHDOG_RATE, self.check_watchdog, MutuallyExclusiveCallbackGroup())
        self.get_logger().info(
            f"go2w_driver: Unitree sport SDK on {interface}, DDS domain {domain}; limits "
            f"{max_linear:g} m/s, {max_angular:g} rad/s; watchdog {timeout:g} s"
        )

    def close(self) -> None:
        """Stop the base on the way out."""
        self._stop("the driver is shutting down")
        self.state_sub.Close()

    # -- commands --------------------------------------------------------------------------------
    def on_cmd_vel(self, message: Twist, info: dict[str, int]) -> None:
        """The spinning thread: Move is a DDS write without a reply, so this never blocks on the robot."""
        received = info.get("received_timestamp", 0)  # ns; 0 where the middleware does not stamp it
        waited = time.time() - received * 1e-9 if received > 0 else 0.0  # this process's own delay
        if waited > self.watchdog.timeout:
            self.get_logger().warning(
                f"cmd_vel dropped: it waited {waited:.2f} s in this node's queue (more than cmd_vel_timeout)",
                throttle_duration_sec=2.0,
            )
            return
        v, w = message.linear, message.angular
        try:
            command = clamp_twist(self.base, (v.x, v.y, v.z), (w.x, w.y, w.z))
        except MaestroError as exc:
            self.get_logger().warning(f"cmd_vel refused: {exc}", throttle_duration_sec=2.0)
            return
        if command.notes:
            self.get_logger().warning(f"cmd_vel: {'; '.join(command.notes)}", throttle_duration_sec=2.0)
        with self._sport_lock:
            code = self.sport.Move(command.linear, 0.0, command.angular)
        moving = command.linear != 0.0 or command.angular != 0.0
        self.watchdog.command(time.monotonic(), moving)
        if code != 0:
            self.get_logger().warning(f"SportClient.Move returned {code}", throttle_duration_sec=2.0)

    def check_watchdog(self) -> None:
        if self.watchdog.expired(time.monotonic()) and not self._stop(
            f"no cmd_vel for {self.watchdog.timeout:g} s"
        ):
            self.watchdog.rearm()  # not acknowledged (lost, or the robot busy): stop again next check

    def _stop(self, reason: str) -> bool:
        """StopMove; True once the robot acknowledged it."""
        with self._sport_lock:
            code = self.sport.StopMove()
        if code == 0:
            self.get_logger().info(f"{reason}: StopMove")
        else:
            self.get_logger().warning(f"{reason}: StopMove returned {code}; retrying")
        return code == 0

    # -- body posture ------------------------------------------------------------------------------
    def follow_body(self, handle: ServerGoalHandle) -> FollowJointTrajectory.Result:
        trajectory, result = handle.request.trajectory, FollowJointTrajectory.Result()
        names, points = list(trajectory.joint_names), trajectory.points
        valid = (HEIGHT_JOINT, PITCH_JOINT)
        try:
            if not names or any(n not in valid for n in names) or len(set(names)) != len(names):
                result.error_code = FollowJointTrajectory.Result.INVALID_JOINTS
                raise InvalidArgumentError(
                    f"unknown or repeated joint(s) {names}; body joints: {', '.join(valid)}"
                )
            result.error_code = FollowJointTrajectory.Result.INVALID_GOAL
            if not points or any(len(p.positions) != len(names) for p in points):
                raise InvalidArgumentError("each trajectory point needs one position per joint")
            last = dict(zip(names, points[-1].positions, strict=True))
            posture = BodyPosture(float(last.get(HEIGHT_JOINT, 0.0)), float(last.get(PITCH_JOINT, 0.0)))
            posture.check(self.base)
            if abs(posture.height) > 1e-3:
                raise InvalidArgumentError(
                    f"{HEIGHT_JOINT} = {posture.height:.3f} m: unitree_sdk2py 1.0.3 has no BodyHeight call, "
                    f"so this driver keeps the stand's height (0); {PITCH_JOINT} goes to SportClient.Euler"
                )
            with self._sport_lock:
                code = self.sport.Euler(0.0, posture.pitch, 0.0)
            if code != 0:
                raise UnavailableError(f"SportClient.Euler(0, {posture.pitch:.3f}, 0) returned {code}")
        except MaestroError as exc:
            result.error_string = str(exc)
            self.get_logger().warning(f"body goal rejected: {exc}")
            handle.abort()
            return result
        end = points[-1].time_from_start
        started, minimum = time.monotonic(), end.sec + end.nanosec * 1e-9
        given = [
            t.position
            for t in handle.request.goal_tolerance
            if t.name in (PITCH_JOINT, "") and t.position > 0 and math.isfinite(t.position)
        ]
        tolerance = min(given, default=BODY_TOLERANCE)  # the goal's for the pitch, else the default
        while True:
            pitch, elapsed = self.pitch, time.monotonic() - started
            if handle.is_cancel_requested:  # hold the attitude reached so far
                with self._sport_lock:
                    self.sport.Euler(0.0, pitch if pitch is not None else 0.0, 0.0)
                handle.canceled()
                result.error_string = "canceled; the body holds its pitch"
                return result
            if pitch is not None:
                feedback = FollowJointTrajectory.Feedback(joint_names=[PITCH_JOINT])
                feedback.desired.positions, feedback.actual.positions = [posture.pitch], [pitch]
                handle.publish_feedback(feedback)
                if elapsed >= minimum and abs(pitch - posture.pitch) <= tolerance:
                    result.error_code = FollowJointTrajectory.Result.SUCCESSFUL
                    result.error_string = f"body pitch {pitch:.3f} rad"
                    handle.succeed()
                    return result
            if elapsed > minimum + self.body_settle:
                result.error_code = FollowJointTrajectory.Result.GOAL_TOLERANCE_VIOLATED
                result.error_string = (
                    f"the body's pitch is {pitch} rad, not {posture.pitch:.3f} (+-{tolerance:g} rad), "
                    f"{self.body_settle:g} s after the goal's time"
                )
                handle.abort()
                return result
            time.sleep(0.05)

    # -- state (a DDS thread) ---------------------------------------------------------------------
    def on_sport_state(self, state: object) -> None:
        self.states += 1
        self.pitch = float(state.imu_state.rpy[1])  # type: ignore[attr-defined]
        now = time.monotonic()
        if now - self._last_odom < self.odom_period - 1e-6:
            return
        self._last_odom = now
        try:
            odometry = odometry_from_sport_state(state)
            self.publish_odometry(odometry)
        except Exception as exc:  # never let an exception end the SDK's reader thread
            self.get_logger().error(f"rt/sportmodestate dropped: {exc!r}", throttle_duration_sec=5.0)

    def publish_odometry(self, odometry: BaseOdometry) -> None:
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.odom_frame)
        message = Odometry(header=header, child_frame_id=self.base_frame)
        pose, twist = message.pose.pose, message.twist.twist
        pose.position.x, pose.position.y, pose.position.z = odometry.position
        q = pose.orientation
        q.w, q.x, q.y, q.z = odometry.quaternion
        twist.linear.x, twist.linear.y, twist.linear.z = odometry.linear
        twist.angular.x, twist.angular.y, twist.angular.z = odometry.angular
        self.odom_pub.publish(message)
        if self.publish_tf:
            transform = TransformStamped(header=header, child_frame_id=self.base_frame)
            t, r = transform.transform.translation, transform.transform.rotation
            t.x, t.y, t.z = odometry.position
            r.w, r.x, r.y, r.z = odometry.quaternion
            self.tf_pub.publish(TFMessage(transforms=[transform]))


def main(args: Sequence[str] | None = None) -> int:
    return run_node(Go2wDriver, args)


if __name__ == "__main__":
    sys.exit(main())
