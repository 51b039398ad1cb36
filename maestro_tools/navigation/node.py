"""The ``navigation`` node: the ``navigate`` action (maestro_msgs/NavigateBase, in the style of nav2's
NavigateToPose) over a local occupancy grid built from a depth camera.

A goal is a pose in the fixed frame (``map``; a goal in another frame is looked up in TF). While a goal
runs the node listens to /tf, the robot's odometry and the camera's depth (the sim renders only while
watched): each depth image is lifted into the fixed frame with the camera's pose at its stamp and added
to the grid; the robot's pose is TF ``map -> odom`` composed with the odometry (TF ``map -> base`` until
odometry arrives). ``Navigator`` (navigator.py) plans on the inflated grid, follows the path
with a skid-steer pure-pursuit follower and recovers (back up, turn in place, replan) when blocked or
stalled. Commands go out as geometry_msgs/Twist on ``cmd_vel`` (linear.x, angular.z) at
``control_rate``; cancel, preemption (a new goal), failure and shutdown stop the base with a zero Twist.

Arrival: the position within its tolerance, then the heading. Turning in place moves a skid-steer base's
base_link a few cm (it turns about its wheels' centre, with slip); a base the final turn left outside the
tolerance approaches again, to half the tolerance, up to three times, and then accepts twice the
tolerance. The result reports the actual errors.

Feedback: state (DRIVING, PLANNING, STALLED, BLOCKED, RECOVERING), pose in map, distance remaining along
the path, recoveries, time. Results carry success, an ErrorCode and a message: INVALID_ARGUMENT (NaN
pose, bad tolerances), NOT_FOUND (unknown frame), NO_DATA (no TF for the robot), UNREACHABLE (goal in an
obstacle, no path after the recoveries), STALLED, TIMEOUT, CANCELED, PREEMPTED. Publishes the plan
(nav_msgs/Path on ``navigation/plan``) and the grid (nav_msgs/OccupancyGrid on ``navigation/grid``).
Furniture the semantic map remembers (``query_map``) is kept out of the grid (``map_obstacles.py``).
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from geometry_msgs.msg import Twist
from nav_msgs.msg import OccupancyGrid as GridMessage
from nav_msgs.msg import Odometry, Path
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from maestro_msgs.action import NavigateBase
from maestro_tools.common.conversions import (
    camera_info_to_intrinsics,
    depth_to_points,
    matrix_to_pose,
    pose_to_matrix,
)
from maestro_tools.common.errors import (
    CanceledError,
    ErrorCode,
    MaestroError,
    NoDataError,
    PreemptedError,
    UnavailableError,
)
from maestro_tools.common.node_main import run_node
from maestro_tools.common.preempting import PreemptingActionServer
from maestro_tools.common.qos import LATCHED_QOS, STATE_QOS
from maestro_tools.common.tf import ExtrapolationError, UnknownFrameError, transform_points
from maestro_tools.common.tf_listener import TfListener
from maestro_tools.common.validate import unexpected
from maestro_tools.mapping.furniture_source import MapObstacleSource
from maestro_tools.navigation.follower import PathFollower, Pose2D
from maestro_tools.navigation.goals import GoalSpec, check_goal
from maestro_tools.navigation.grid import OccupancyGrid
from maestro_tools.navigation.map_obstacles import Footprint, footprints
from maestro_tools.navigation.messages import grid_message, path_message
from maestro_tools.navigation.navigator import Navigator
from maestro_tools.navigation.params import declare_navigation_params
from maestro_tools.navigation.planner import GridPlanner
from maestro_tools.navigation.self_filter import outside_robot
from maestro_tools.perception.topic_source import INFO_QOS, SENSOR_QOS, depth_metres
from maestro_tools.robots.params import declare_robot


def _seconds(stamp: object) -> float:
    return stamp.sec + stamp.nanosec * 1e-9  # type: ignore[attr-defined]


def pose2d(matrix: np.ndarray) -> Pose2D:
    return Pose2D(float(matrix[0, 3]), float(matrix[1, 3]), math.atan2(matrix[1, 0], matrix[0, 0]))


class NavigationNode(Node):
    def __init__(self) -> None:
        super().__init__("navigation")
        self.profile = declare_robot(self)
        self.profile.require("base")
        assert self.profile.base is not None
        self.params = params = declare_navigation_params(self, self.profile)
        self.fixed, self.base_frame = self.profile.fixed_frame, self.profile.base_frame
        self.odom_frame = self.profile.base.odom_frame
        self.camera = self.profile.camera(params.camera)
        self.group = ReentrantCallbackGroup()
        self.tf = TfListener(self, self.group, on_demand=True)
        self.cmd_pub = self.create_publisher(Twist, params.cmd_vel_topic, STATE_QOS)
        self.path_pub = self.create_publisher(Path, "navigation/plan", LATCHED_QOS)
        self.grid_pub = self.create_publisher(GridMessage, "navigation/grid", LATCHED_QOS)
        self.navigator = Navigator(
            OccupancyGrid(params.grid), GridPlanner(), PathFollower(params.follower), params.navigator
        )
        self.map_obstacles = MapObstacleSource(self, self.group, self.fixed, params.map_obstacles)
        self._footprints: tuple[int, list[Footprint]] = (0, [])
        self._odom: Odometry | None = None
        self._depth: Image | None = None
        self._info: CameraInfo | None = None
        self._running: ServerGoalHandle | None = None  # the goal the navigator last started
        self._drive = threading.Lock()
        self._closing = threading.Event()
        self.goals = PreemptingActionServer(self, NavigateBase, "navigate", self.execute, self.group)
        self.get_logger().info(
            f"navigation ready: {self.profile.name}, depth from the {self.camera.name} camera, "
            f"cmd_vel on {self.resolve_topic_name(params.cmd_vel_topic)}"
        )

    def close(self) -> None:
        """Called by run_node on SIGINT/SIGTERM: a running goal stops the base and ends now."""
        self._closing.set()

    # -- inputs (subscription callbacks run in the spinning thread: store only) -----------------------
    @contextmanager
    def _sensors(self) -> Iterator[None]:
        """Odometry and the camera's depth and info, subscribed for the duration of a goal."""
        self._odom = self._depth = None
        ns = self.camera.namespace
        # No QoS-event handlers: destroying them races the spinning executor in rclpy (Jazzy).
        quiet: dict[str, Any] = {
            "callback_group": self.group,
            "event_callbacks": SubscriptionEventCallbacks(use_default_callbacks=False),
        }
        subscriptions = [
            self.create_subscription(Odometry, self.params.odom_topic, self._on_odom, STATE_QOS, **quiet),
            self.create_subscription(Image, f"{ns}/depth/image_raw", self._on_depth, SENSOR_QOS, **quiet),
            self.create_subscription(CameraInfo, f"{ns}/color/camera_info", self._on_info, INFO_QOS, **quiet),
        ]
        try:
            yield
        finally:
            for subscription in subscriptions:
                self.destroy_subscription(subscription)

    def _on_odom(self, message: Odometry) -> None:
        self._odom = message

    def _on_depth(self, message: Image) -> None:
        self._depth = message

    def _on_info(self, message: CameraInfo) -> None:
        self._info = message

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def robot_pose(self, timeout: float = 0.0) -> np.ndarray:
        """The base's 4x4 pose in the fixed frame: TF map -> odom with the latest odometry, else TF."""
        try:
            odom = self._odom
            if odom is not None:
                frame = odom.header.frame_id.lstrip("/") or self.odom_frame
                return self.tf.lookup(self.fixed, frame, timeout=timeout) @ pose_to_matrix(odom.pose.pose)
            return self.tf.lookup(self.fixed, self.base_frame, timeout=timeout)
        except (UnknownFrameError, ExtrapolationError) as exc:
            raise NoDataError(
                f"no pose of {self.base_frame} in {self.fixed} from TF within {timeout:g} s ({exc}); is the "
                "robot's localisation (map -> odom) and odometry (odom -> base) running?"
            ) from None

    def _first_pose(self) -> np.ndarray:
        """The pose at a goal's start: from odometry or TF, whichever comes first (/tf is just heard)."""
        deadline = time.monotonic() + self.params.tf_timeout
        while True:
            try:
                return self.robot_pose(timeout=0.1)
            except NoDataError:
                if time.monotonic() >= deadline:
                    raise

    def _take_depth(self, pose: Pose2D) -> bool:
        """Add the newest depth image to the grid; False when there was none or TF could not place it."""
        depth, info = self._depth, self._info
        if depth is None or info is None:
            return False
        self._depth = None
        stride = self.params.pixel_stride
        image = depth_metres(depth)[::stride, ::stride]
        k = camera_info_to_intrinsics(info).copy()
        k[:2] /= stride  # pixel (u, v) of the subsampled image is (stride u, stride v) of the full one
        optical = depth.header.frame_id.lstrip("/") or self.camera.optical_frame
        stamp = _seconds(depth.header.stamp)
        try:
            camera = self.tf.lookup(self.fixed, optical, stamp, timeout=0.2)
        except (UnknownFrameError, ExtrapolationError) as exc:
            self.get_logger().warning(f"depth image skipped: {exc}", throttle_duration_sec=5.0)
            return False
        points = transform_points(camera, depth_to_points(image, k))
        self.navigator.observe(self._without_the_arm(points, stamp), camera[:3, 3], pose)
        return True

    def _without_the_arm(self, points: np.ndarray, stamp: float) -> np.ndarray:
        """The points that are not the arm or what its hand holds (its chain from TF at the stamp)."""
        config = self.params.self_filter
        if not config.frames:
            return points
        try:
            chain = np.array(
                [self.tf.lookup(self.fixed, f, stamp, timeout=0.05)[:3, 3] for f in config.frames]
            )
        except (UnknownFrameError, ExtrapolationError) as exc:
            self.get_logger().warning(
                f"the arm is not filtered out of depth: {exc}", throttle_duration_sec=5.0
            )
            return points
        return points[outside_robot(points, chain, config.radius, config.hand_radius)]

    def _furniture(self) -> list[Footprint]:
        """The semantic map's furniture footprints (asked for every map_period s)."""
        source = self.map_obstacles
        source.refresh(time.monotonic())
        if source.version != self._footprints[0]:
            grid = self.params.grid
            band = (grid.min_height, grid.max_height)
            self._footprints = (
                source.version,
                footprints(source.objects(), grid.floor_height, band, self.params.map_obstacles),
            )
        return self._footprints[1]

    # -- the action ------------------------------------------------------------------------------------
    def stop(self) -> None:
        for _ in range(3):
            self.cmd_pub.publish(Twist())
        self.navigator.follower.reset()

    def execute(self, handle: ServerGoalHandle) -> NavigateBase.Result:
        """Every goal ends with a result; an error no check anticipated is BACKEND_ERROR."""
        started = self._now()
        with self._drive:  # a preempted goal's loop ends (and stops the base) before this one drives
            try:
                return self._execute(handle, started)
            except MaestroError as exc:
                return self._end(handle, exc, started)
            except Exception as exc:  # a bad goal must never kill the node
                return self._end(handle, unexpected(self, exc, "navigate"), started)

    def _end(
        self,
        handle: ServerGoalHandle,
        exc: MaestroError | None,
        started: float,
        pose: np.ndarray | None = None,
    ) -> NavigateBase.Result:
        """Stop the base and make the result (success when ``exc`` is None)."""
        self.stop()
        result = NavigateBase.Result(
            success=exc is None,
            error_code=int(exc.code) if exc is not None else 0,
            message=str(exc) if exc is not None else self._arrival(),
            navigation_time=float(max(0.0, self._now() - started)),
        )
        ran = self._running is handle  # refused goals have no recoveries and no errors to the goal
        if pose is None:
            try:
                pose = self.robot_pose()
            except MaestroError:
                pose = None
        if pose is not None:
            result.final_pose = matrix_to_pose(pose)
        if pose is not None and ran:
            here = pose2d(pose)
            result.position_error = self.navigator.position_error(here)
            result.yaw_error = self.navigator.yaw_error(here)
            result.number_of_recoveries = self.navigator.recoveries
        if exc is not None:
            self.get_logger().warning(f"navigate failed: {exc}")
        if handle.is_active:
            if exc is None:
                handle.succeed()
            elif exc.code == ErrorCode.CANCELED and handle.is_cancel_requested:
                handle.canceled()
            else:
                handle.abort()
        return result

    def _arrival(self) -> str:
        short = self.navigator.shortfall
        if short < 1e-3:
            return "arrived"
        return (
            f"arrived {short:.2f} m short of the goal: it lies closer to an obstacle than the robot's "
            f"footprint ({self.navigator.inflation:.2f} m) allows: the base stopped at the nearest free spot"
        )

    def _execute(self, handle: ServerGoalHandle, started: float) -> NavigateBase.Result:
        spec: GoalSpec = check_goal(handle.request, self.params)
        with self.tf.listening(), self._sensors():
            goal = self.tf.pose_in(handle.request.goal, self.fixed, timeout=self.params.tf_timeout)
            target = pose2d(goal)
            pose = self._first_pose()
            deadline = started + spec.timeout
            goal_yaw = None if spec.yaw_tolerance < 0 else target.yaw
            self.navigator.start(
                target,
                goal_yaw,
                spec.position_tolerance,
                spec.yaw_tolerance,
                started,
                deadline,
                spec.push,
                spec.speed_scale,
            )
            self._running = handle
            self.get_logger().info(
                f"{'push' if spec.push else 'navigate'} to ({target.x:.2f}, {target.y:.2f}, yaw "
                f"{target.yaw:.2f}) in {self.fixed} from "
                f"({pose[0, 3]:.2f}, {pose[1, 3]:.2f})"
            )
            return self._loop(handle, started)

    def _loop(self, handle: ServerGoalHandle, started: float) -> NavigateBase.Result:
        period = 1.0 / self.params.control_rate
        shown_path, next_grid = None, 0.0
        while True:
            tick = self._now()
            if self._closing.is_set():
                raise UnavailableError("the navigation node is shutting down; the base was stopped")
            if handle.is_cancel_requested:
                return self._end(handle, CanceledError("canceled; the base was stopped"), started)
            if self.goals.superseded(handle):
                raise PreemptedError("preempted by a newer navigate goal; the base was stopped")
            matrix = self.robot_pose(timeout=self.params.tf_timeout)
            pose = pose2d(matrix)
            if self._take_depth(pose) and time.monotonic() >= next_grid:
                next_grid = time.monotonic() + 1.0
                self.grid_pub.publish(grid_message(self.navigator.grid, self.fixed, self.get_clock().now()))
            self.navigator.set_keep_out(self._furniture(), pose)
            step = self.navigator.step(pose, tick)
            if step.done:
                return self._end(handle, None, started, matrix)
            command = Twist()
            command.linear.x, command.angular.z = step.linear, step.angular
            self.cmd_pub.publish(command)
            if self.navigator.path is not shown_path and self.navigator.path is not None:
                shown_path = self.navigator.path
                self.path_pub.publish(path_message(shown_path, self.fixed, self.get_clock().now()))
            feedback = NavigateBase.Feedback(
                state=int(step.state),
                current_pose=matrix_to_pose(matrix),
                distance_remaining=float(step.remaining),
                number_of_recoveries=self.navigator.recoveries,
                navigation_time=float(tick - started),
            )
            handle.publish_feedback(feedback)
            self._sleep_until(tick + period, period)

    def _sleep_until(self, when: float, period: float) -> None:
        """Until the node's clock (sim time in simulation) reaches ``when``; two periods (wall) at most."""
        limit = time.monotonic() + 2 * period
        while self._now() < when and time.monotonic() < limit and not self._closing.is_set():
            time.sleep(0.005)


def main(args: Sequence[str] | None = None) -> int:
    return run_node(NavigationNode, args)


if __name__ == "__main__":
    sys.exit(main())
