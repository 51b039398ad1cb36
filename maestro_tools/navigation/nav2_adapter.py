"""The ``nav2_adapter`` node: Maestro's ``navigate`` action (maestro_msgs/NavigateBase) served by nav2.

Where nav2 runs (stock ROS), this node replaces the ``navigation`` node (bringup ``navigation:=nav2``):
each NavigateBase goal is checked as the navigation node checks it (``goals.check_goal``), its pose
put in nav2's global frame (``map``; a goal in another frame is looked up in TF once, at the start) and
sent to nav2's NavigateToPose action (bt_navigator's ``/navigate_to_pose``).

- Feedback: nav2's current pose, distance remaining, recoveries and navigation time, forwarded at most
  ``feedback_rate`` Hz; ``state`` is RECOVERING for ``RECOVERY_HOLD_S`` after nav2's recovery count
  rises, else DRIVING (nav2 reports no state).
- Result: nav2's SUCCEEDED is success; ABORTED becomes the ErrorCode of nav2's error code (the planner's
  2xx and the controller's 1xx, ``NAV2_ERRORS``) with nav2's name, code and message in the text.
  position_error and yaw_error are measured from nav2's last pose; arrival itself is nav2's goal
  checker (its xy/yaw tolerances), so a goal's tolerances are reported against, not enforced.
- Cancel is forwarded to nav2 (its controller stops the base) and a zero Twist goes out on
  ``cmd_vel_topic``; a newer goal cancels the older nav2 goal before it is sent (PREEMPTED); a goal
  past its timeout is cancelled (TIMEOUT).
- Refused (INVALID_ARGUMENT): ``behavior: "push"`` and ``max_speed`` (nav2's controller owns speeds).
- nav2 absent: UNAVAILABLE naming the action and how to start nav2.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
from action_msgs.msg import GoalStatus
from geometry_msgs.msg import PoseStamped, Twist
from nav2_msgs.action import NavigateToPose
from rclpy.action import ActionClient
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.task import Future

from maestro_msgs.action import NavigateBase
from maestro_tools.common.conversions import matrix_to_pose, pose_to_matrix
from maestro_tools.common.errors import (
    BackendError,
    CanceledError,
    ErrorCode,
    InvalidArgumentError,
    MaestroError,
    MaestroTimeoutError,
    PreemptedError,
    UnavailableError,
    error_from_code,
)
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.preempting import PreemptingActionServer
from maestro_tools.common.qos import STATE_QOS
from maestro_tools.common.tf import ExtrapolationError, UnknownFrameError
from maestro_tools.common.tf_listener import TfListener
from maestro_tools.common.validate import unexpected
from maestro_tools.navigation.goals import check_goal

RECOVERY_HOLD_S = 2.0  # feedback says RECOVERING this long after nav2's recovery count rises
POLL_S = 0.05  # how often a running goal checks for cancel, preemption, timeout and shutdown

# nav2's error codes (Jazzy: ComputePathToPose 2xx, FollowPath 1xx; bt_navigator reports the lowest
# non-zero one of its error_code_names) -> name and Maestro's ErrorCode. Others are BACKEND_ERROR.
NAV2_ERRORS: dict[int, tuple[str, ErrorCode]] = {
    100: ("FollowPath UNKNOWN", ErrorCode.BACKEND_ERROR),
    101: ("FollowPath INVALID_CONTROLLER", ErrorCode.BACKEND_ERROR),
    102: ("FollowPath TF_ERROR", ErrorCode.NO_DATA),
    103: ("FollowPath INVALID_PATH", ErrorCode.UNREACHABLE),
    104: ("FollowPath PATIENCE_EXCEEDED", ErrorCode.STALLED),
    105: ("FollowPath FAILED_TO_MAKE_PROGRESS", ErrorCode.STALLED),
    106: ("FollowPath NO_VALID_CONTROL", ErrorCode.UNREACHABLE),
    107: ("FollowPath CONTROLLER_TIMED_OUT", ErrorCode.TIMEOUT),
    200: ("ComputePathToPose UNKNOWN", ErrorCode.BACKEND_ERROR),
    201: ("ComputePathToPose INVALID_PLANNER", ErrorCode.BACKEND_ERROR),
    202: ("ComputePathToPose TF_ERROR", ErrorCode.NO_DATA),
    203: ("ComputePathToPose START_OUTSIDE_MAP", ErrorCode.UNREACHABLE),
    204: ("ComputePathToPose GOAL_OUTSIDE_MAP", ErrorCode.UNREACHABLE),
    205: ("ComputePathToPose START_OCCUPIED", ErrorCode.UNREACHABLE),
    206: ("ComputePathToPose GOAL_OCCUPIED", ErrorCode.UNREACHABLE),
    207: ("ComputePathToPose TIMEOUT", ErrorCode.TIMEOUT),
    208: ("ComputePathToPose NO_VALID_PATH", ErrorCode.UNREACHABLE),
}


def nav2_error(code: int, message: str) -> MaestroError:
    """The typed error of an aborted nav2 goal (its code and message in the text)."""
    name, maestro_code = NAV2_ERRORS.get(code, (f"error code {code}", ErrorCode.BACKEND_ERROR))
    label = f"{name} ({code})" if code in NAV2_ERRORS else name if code else "no error code"
    return error_from_code(
        maestro_code, f"nav2 aborted the goal: {label}" + (f": {message}" if message else "")
    )


def done_event(future: Future) -> threading.Event:
    """An Event set when ``future`` is done (waited on without spinning: the executor spins)."""
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    return done


def yaw_of(matrix: np.ndarray) -> float:
    return math.atan2(matrix[1, 0], matrix[0, 0])


@dataclass(frozen=True)
class AdapterParams:
    nav2_action: str
    global_frame: str
    behavior_tree: str
    server_timeout: float
    cancel_timeout: float
    position_tolerance: float
    yaw_tolerance: float
    timeout: float
    tf_timeout: float
    feedback_rate: float
    cmd_vel_topic: str
    # check_goal caps a goal's max_speed by the follower's top speed; the adapter refuses max_speed
    follower: Any = field(default_factory=lambda: SimpleNamespace(max_linear=math.inf))


_NUMBERS = (  # name, default, description, minimum, maximum
    ("server_timeout", 5.0, "Seconds to wait for nav2's server and its answer to a goal", 0.1, 60.0),
    ("cancel_timeout", 5.0, "Seconds to wait for nav2 to end a cancelled goal", 0.1, 60.0),
    ("position_tolerance", 0.25, "A goal's 0 tolerance, m (reported; nav2 decides arrival)", 0.01, 5.0),
    ("yaw_tolerance", 0.25, "A goal's 0 heading tolerance, rad (reported, as above)", 0.01, math.pi),
    ("timeout", 120.0, "Default goal timeout, s (the node's clock); then nav2's is cancelled", 1.0, 3600.0),
    ("tf_timeout", 5.0, "Seconds to wait for TF to put a goal in the global frame", 0.1, 30.0),
    ("feedback_rate", 10.0, "Most feedback messages forwarded per second", 0.5, 100.0),
)


def declare_adapter_params(node: Node) -> AdapterParams:
    numbers = {n: declare(node, n, d, text, minimum=lo, maximum=hi) for n, d, text, lo, hi in _NUMBERS}
    return AdapterParams(
        nav2_action=declare(
            node,
            "nav2_action",
            "/navigate_to_pose",
            "nav2's NavigateToPose action (bt_navigator; absolute: nav2 runs outside Maestro's namespace)",
        ),
        global_frame=declare(
            node, "global_frame", "map", "nav2's global frame (bt_navigator's); goals go in it"
        ),
        behavior_tree=declare(
            node, "behavior_tree", "", "Behaviour tree XML sent with goals; '' = nav2's default"
        ),
        cmd_vel_topic=declare(
            node, "cmd_vel_topic", "cmd_vel", "Zero Twist here on cancel and timeout; '' = none"
        ),
        **numbers,
    )


class _Progress:
    """What nav2's feedback said so far about one goal (written by the feedback callback)."""

    def __init__(self, handle: ServerGoalHandle, period: float) -> None:
        self.handle, self.period = handle, period
        self.pose: PoseStamped | None = None
        self.recoveries, self.recovered_at, self.sent_at = 0, -math.inf, -math.inf
        self.open = True
        self.lock = threading.Lock()

    def on_feedback(self, message: Any) -> None:
        feedback, now = message.feedback, time.monotonic()
        with self.lock:
            self.pose = feedback.current_pose
            recoveries = max(0, int(feedback.number_of_recoveries))
            if recoveries > self.recoveries:
                self.recoveries, self.recovered_at = recoveries, now
            if not self.open or now - self.sent_at < self.period:
                return
            self.sent_at = now
            recovering = now - self.recovered_at < RECOVERY_HOLD_S
            self.handle.publish_feedback(
                NavigateBase.Feedback(
                    state=NavigateBase.Feedback.RECOVERING if recovering else NavigateBase.Feedback.DRIVING,
                    current_pose=feedback.current_pose.pose,
                    distance_remaining=float(feedback.distance_remaining),
                    number_of_recoveries=self.recoveries,
                    navigation_time=feedback.navigation_time.sec + feedback.navigation_time.nanosec * 1e-9,
                )
            )

    def close(self) -> None:
        with self.lock:
            self.open = False


class Nav2AdapterNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("nav2_adapter", **kwargs)
        self.params = params = declare_adapter_params(self)
        self.group = ReentrantCallbackGroup()
        self.tf = TfListener(self, self.group, on_demand=True)
        self.nav2 = ActionClient(self, NavigateToPose, params.nav2_action, callback_group=self.group)
        self.cmd_pub = (
            self.create_publisher(Twist, params.cmd_vel_topic, STATE_QOS) if params.cmd_vel_topic else None
        )
        self._drive = threading.Lock()
        self._closing = threading.Event()
        self.goals = PreemptingActionServer(self, NavigateBase, "navigate", self.execute, self.group)
        self.get_logger().info(
            f"nav2_adapter ready: navigate goals go to nav2's {self._nav2_name()} in {params.global_frame}"
        )

    def close(self) -> None:
        """Called by run_node on SIGINT/SIGTERM: a running goal cancels nav2's and ends now."""
        self._closing.set()

    def _nav2_name(self) -> str:
        return self.resolve_topic_name(self.params.nav2_action)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def stop(self) -> None:
        if self.cmd_pub is not None:
            for _ in range(3):
                self.cmd_pub.publish(Twist())

    def execute(self, handle: ServerGoalHandle) -> NavigateBase.Result:
        """Every goal ends with a result; an error no check anticipated is BACKEND_ERROR."""
        started = self._now()
        progress = _Progress(handle, 1.0 / self.params.feedback_rate)
        with self._drive:  # a preempted goal's nav2 goal ends before this one is sent
            try:
                return self._execute(handle, progress, started)
            except MaestroError as exc:
                return self._end(handle, progress, exc, started)
            except Exception as exc:  # a bad goal must never kill the node
                return self._end(handle, progress, unexpected(self, exc, "navigate"), started)

    def _interruption(self, handle: ServerGoalHandle, deadline: float, timeout: float) -> MaestroError | None:
        """Why a goal must end now (cancel, a newer goal, its timeout, shutdown), or None."""
        if self._closing.is_set():
            return UnavailableError("the nav2_adapter node is shutting down; nav2's goal was cancelled")
        if handle.is_cancel_requested:
            return CanceledError("canceled; nav2's goal was cancelled and the base stopped")
        if self.goals.superseded(handle):
            return PreemptedError("preempted by a newer navigate goal; nav2's goal was cancelled")
        if self._now() > deadline:
            return MaestroTimeoutError(
                f"no arrival within the goal's timeout ({timeout:g} s); "
                "nav2's goal was cancelled and the base stopped"
            )
        return None

    def _execute(self, handle: ServerGoalHandle, progress: _Progress, started: float) -> NavigateBase.Result:
        request = handle.request
        spec = check_goal(request, self.params)
        if spec.push:
            raise InvalidArgumentError(
                "behavior = 'push' is not served by nav2; valid: '' (nav2's behaviour tree); push through "
                "a door with Maestro's navigation node (navigation:=maestro)"
            )
        if request.max_speed > 0.0:
            raise InvalidArgumentError(
                f"max_speed = {request.max_speed:g} m/s is not served by nav2 (its controller's limits "
                "apply); valid: 0, or Maestro's navigation node (navigation:=maestro)"
            )
        deadline = started + spec.timeout
        interrupted = self._interruption(handle, deadline, spec.timeout)
        if interrupted is not None:  # cancelled or preempted while the previous goal ended
            raise interrupted
        frame = self.params.global_frame
        try:
            goal = self.tf.pose_in(request.goal, frame, timeout=self.params.tf_timeout)
        except (UnknownFrameError, ExtrapolationError) as exc:
            source = request.goal.header.frame_id
            raise type(exc)(f"TF cannot put the goal's frame {source!r} in {frame}: {exc}") from None
        nav2_goal = NavigateToPose.Goal(behavior_tree=self.params.behavior_tree)
        nav2_goal.pose.header.frame_id = frame
        nav2_goal.pose.header.stamp = self.get_clock().now().to_msg()
        nav2_goal.pose.pose = matrix_to_pose(goal)
        if not self.nav2.wait_for_server(timeout_sec=self.params.server_timeout):
            raise UnavailableError(
                f"nav2's NavigateToPose action server {self._nav2_name()} is not available (waited "
                f"{self.params.server_timeout:g} s): start nav2 (e.g. ros2 launch nav2_bringup "
                "navigation_launch.py params_file:=<your nav2 params>) or launch Maestro with "
                "navigation:=maestro (its own navigation node)"
            )
        sent = self.nav2.send_goal_async(nav2_goal, feedback_callback=progress.on_feedback)
        if not done_event(sent).wait(self.params.server_timeout):
            raise UnavailableError(
                f"nav2's {self._nav2_name()} did not answer the goal within {self.params.server_timeout:g} s"
            )
        nav2_handle = sent.result()
        if not nav2_handle.accepted:
            raise UnavailableError(
                f"nav2's {self._nav2_name()} rejected the goal: is nav2 active (its lifecycle manager "
                "started with autostart) and localised?"
            )
        self.get_logger().info(
            f"navigate via nav2 to ({goal[0, 3]:.2f}, {goal[1, 3]:.2f}, yaw {yaw_of(goal):.2f}) in {frame}"
        )
        result = nav2_handle.get_result_async()
        ended = done_event(result)
        while not ended.wait(POLL_S):
            interrupted = self._interruption(handle, deadline, spec.timeout)
            if interrupted is not None:
                raise self._cancel_nav2(nav2_handle, ended, interrupted)
        answer = result.result()
        if answer.status == GoalStatus.STATUS_SUCCEEDED:
            return self._end(handle, progress, None, started, goal, spec)
        if answer.status == GoalStatus.STATUS_ABORTED:
            raise nav2_error(int(answer.result.error_code), answer.result.error_msg)
        if answer.status == GoalStatus.STATUS_CANCELED:
            raise PreemptedError(
                "nav2 cancelled the goal itself (another client cancelled it, or nav2 stopped)"
            )
        raise BackendError(f"nav2 ended the goal with status {answer.status}")

    def _cancel_nav2(self, nav2_handle: Any, ended: threading.Event, reason: MaestroError) -> MaestroError:
        """Cancel nav2's goal and wait for it to end; ``reason``, to end ours with."""
        nav2_handle.cancel_goal_async()
        if not isinstance(reason, PreemptedError):
            self.stop()  # nav2's controller stops the base as its goal ends; this is in case it does not
        if not ended.wait(self.params.cancel_timeout):
            self.stop()
            return type(reason)(
                f"{reason}; nav2 did not confirm the cancel within {self.params.cancel_timeout:g} s"
            )
        return reason

    def _end(
        self,
        handle: ServerGoalHandle,
        progress: _Progress,
        exc: MaestroError | None,
        started: float,
        goal: np.ndarray | None = None,
        spec: Any = None,
    ) -> NavigateBase.Result:
        """The result (success when ``exc`` is None), with nav2's last pose and the errors to the goal."""
        progress.close()
        result = NavigateBase.Result(
            success=exc is None,
            error_code=int(exc.code) if exc is not None else 0,
            message=str(exc) if exc is not None else "arrived (nav2)",
            number_of_recoveries=progress.recoveries,
            navigation_time=float(max(0.0, self._now() - started)),
        )
        pose = progress.pose
        if pose is not None:
            result.final_pose = pose.pose
        if pose is not None and goal is not None:
            here = pose_to_matrix(pose.pose)
            result.position_error = float(np.hypot(*(here[:2, 3] - goal[:2, 3])))
            if spec is not None and spec.yaw_tolerance >= 0:
                result.yaw_error = abs(math.remainder(yaw_of(here) - yaw_of(goal), math.tau))
            if spec is not None and result.position_error > spec.position_tolerance:
                result.message += (
                    f"; {result.position_error:.2f} m from the goal, over the {spec.position_tolerance:g} m "
                    "asked: nav2's goal checker (xy_goal_tolerance) decides arrival"
                )
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


def main(args: Sequence[str] | None = None) -> int:
    return run_node(Nav2AdapterNode, args)


if __name__ == "__main__":
    sys.exit(main())
