"""The ``motion`` node: MoveArm goals (TCP pose, waypoints, joint goal) turned into executed trajectories.

Plans from the latest ``joint_states`` with ``ArmKinematics`` (mink IK, straight Cartesian lines) and
``JointSpacePlanner`` (OMPL RRTConnect avoiding the table and self-collision: PATH_PLANNED, or
PATH_AUTO when the straight line is blocked), and executes through the robot's ``execute_trajectory``
action (the sim node or the Franka bridge), relaying its feedback and cancels.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import PoseStamped
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
from visualization_msgs.msg import MarkerArray

from maestro_msgs.action import ExecuteTrajectory, MoveArm
from maestro_tools.common import markers
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.conversions import matrix_to_pose, pose_to_matrix
from maestro_tools.common.errors import (
    ErrorCode,
    InvalidArgumentError,
    MaestroError,
    NoDataError,
    NotFoundError,
    UnavailableError,
    UnreachableError,
)
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.qos import LATCHED_QOS, STATE_QOS
from maestro_tools.common.spinning import wait_future_blocking
from maestro_tools.motion.kinematics import ArmKinematics, time_path
from maestro_tools.motion.moveit_backend import MoveItMotion, load_moveit
from maestro_tools.motion.planner import JointSpacePlanner

ARM = tuple(f"panda_joint{i}" for i in range(1, 8))
FRAMES = ("", "base", "world")


def _duration(seconds: float) -> Duration:
    nanoseconds = round(seconds * 1e9)
    return Duration(sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9)


class MotionNode(Node):
    def __init__(self) -> None:
        super().__init__("motion")
        backend = declare(
            self,
            "backend",
            "mink",
            "Motion backend: mink (IK, Cartesian lines, OMPL paths; executes via robot_action) or moveit "
            "(moveit_py on a stock ROS install with the robot's MoveIt config)",
            choices=("mink", "moveit"),
            read_only=True,
        )
        self.moveit: MoveItMotion | None = None
        if backend == "moveit":
            group = declare(self, "moveit_group", "panda_arm", "MoveIt planning group", read_only=True)
            tcp = declare(
                self, "moveit_tcp_link", "panda_hand_tcp", "Link the pose goals refer to", read_only=True
            )
            self.moveit = MoveItMotion(load_moveit(f"{self.get_name()}_moveit_py"), group, tcp)
        self.max_velocity = declare(
            self,
            "max_joint_velocity",
            0.8,
            "Joint speed limit at velocity_scaling 1, rad/s",
            minimum=0.05,
            maximum=2.5,
        )
        robot_action = declare(
            self, "robot_action", "execute_trajectory", "The robot's ExecuteTrajectory action", read_only=True
        )
        self.kinematics = ArmKinematics()
        self.planner = JointSpacePlanner(self.kinematics.model)
        self._lock = threading.Lock()  # the kinematics model is not thread-safe
        self._joints: JointState | None = None
        group = ReentrantCallbackGroup()
        self.create_subscription(JointState, "joint_states", self._on_joints, STATE_QOS, callback_group=group)
        self.robot_action = robot_action
        self.robot = ThreadSafeActionClient(self, ExecuteTrajectory, robot_action, callback_group=group)
        self.markers = self.create_publisher(MarkerArray, "motion/markers", LATCHED_QOS)
        # The TCP in the base frame, from the joint states: what the agent's robot.get_state() reads.
        self.tcp_pub = self.create_publisher(PoseStamped, "tcp_pose", STATE_QOS)
        tcp_rate = declare(
            self, "tcp_pose_rate", 30.0, "Hz of tcp_pose publishing", minimum=1.0, maximum=200.0
        )
        self.create_timer(1.0 / tcp_rate, self._publish_tcp, callback_group=group)
        ActionServer(
            self,
            MoveArm,
            "move_arm",
            execute_callback=self.execute,
            goal_callback=lambda _: GoalResponse.ACCEPT,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=group,
        )

    def _on_joints(self, message: JointState) -> None:
        self._joints = message

    def execute_moveit(self, handle: ServerGoalHandle) -> MoveArm.Result:
        """The moveit backend: MoveIt plans and executes; a cancel stops its execution."""
        result, outcome = MoveArm.Result(), {}

        def run() -> None:
            try:
                _moveit_goal(self.moveit, handle.request)
            except MaestroError as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=run, name="moveit-goal", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.02)
            if handle.is_cancel_requested:
                self.moveit.stop()
                worker.join(2.0)
                handle.canceled()
                result.error_code, result.message = (
                    int(ErrorCode.CANCELED),
                    "canceled; MoveIt stopped the arm",
                )
                return result
        error = outcome.get("error")
        if error is not None:
            handle.abort()
            result.error_code, result.message = int(error.code), str(error)
            return result
        handle.succeed()
        result.success, result.message = True, "MoveIt reached the goal"
        return result

    def _publish_tcp(self) -> None:
        if self._joints is None:
            return
        try:
            q = self.current_positions()
        except NoDataError:
            return
        with self._lock:
            pose = self.kinematics.fk(q)
        message = PoseStamped(pose=matrix_to_pose(pose))
        message.header.frame_id, message.header.stamp = "base", self._joints.header.stamp
        self.tcp_pub.publish(message)

    def current_positions(self) -> np.ndarray:
        message = self._joints
        if message is None:
            raise NoDataError(
                f"no joint_states received on {self.resolve_topic_name('joint_states')}; "
                "is the robot (sim node or driver) running?"
            )
        try:
            return np.array([message.position[list(message.name).index(n)] for n in ARM])
        except ValueError:
            raise NoDataError(
                f"joint_states lacks the arm joints {ARM}; it has {list(message.name)}"
            ) from None

    # -- planning ------------------------------------------------------------------------------
    def plan(self, request: MoveArm.Goal, start: np.ndarray) -> list[np.ndarray]:
        if request.mode == MoveArm.Goal.JOINTS:
            names = list(request.joint_names)
            if sorted(names) != sorted(ARM) or len(request.joint_positions) != len(names):
                raise InvalidArgumentError(
                    f"a joint goal needs all of {', '.join(ARM)} with one position each"
                )
            goal = np.array([request.joint_positions[names.index(n)] for n in ARM])
            if not np.isfinite(goal).all():
                raise InvalidArgumentError("joint goal has NaN or infinite positions")
            outside = [
                f"{ARM[i]} in [{self.kinematics.lower[i]:.3f}, {self.kinematics.upper[i]:.3f}]"
                for i in range(7)
                if not self.kinematics.lower[i] <= goal[i] <= self.kinematics.upper[i]
            ]
            if outside:
                raise InvalidArgumentError(
                    f"joint goal outside the limits; valid ranges: {'; '.join(outside)}"
                )
            if request.path == MoveArm.Goal.PATH_PLANNED:
                with self._lock:
                    return self.planner.plan(start, goal)
            return [goal]
        if request.mode not in (MoveArm.Goal.POSE, MoveArm.Goal.WAYPOINTS):
            raise InvalidArgumentError(f"unknown mode {request.mode}; valid: 0 POSE, 1 WAYPOINTS, 2 JOINTS")
        if not request.waypoints or (request.mode == MoveArm.Goal.POSE and len(request.waypoints) != 1):
            raise InvalidArgumentError("POSE needs exactly one waypoint, WAYPOINTS at least one")
        path, q = [], start
        for index, stamped in enumerate(request.waypoints):
            if stamped.header.frame_id not in FRAMES:
                raise NotFoundError(f"unknown frame {stamped.header.frame_id!r}; poses must be in: base")
            try:
                target = pose_to_matrix(stamped.pose)
            except MaestroError as exc:
                raise InvalidArgumentError(f"waypoint {index}: {exc}") from None
            if not np.isfinite(target).all():
                raise InvalidArgumentError(f"waypoint {index} has NaN coordinates")
            with self._lock:
                segment = self.segment(q, target, request.path)
            path.extend(segment)
            q = segment[-1]
        return path

    def segment(self, start: np.ndarray, target: np.ndarray, path: int) -> list[np.ndarray]:
        """Joint waypoints to a TCP target: a straight line, or a planned path when asked or when the line is
        blocked (PATH_AUTO) but the target itself is reachable."""
        if path == MoveArm.Goal.PATH_PLANNED:
            return self.planner.plan(start, self.kinematics.solve(target, start).q)
        try:
            return self.kinematics.cartesian_path(start, target)
        except UnreachableError:
            if path != MoveArm.Goal.PATH_AUTO:
                raise
            goal = self.kinematics.solve(target, start).q  # raises if the target itself is out of reach
            return self.planner.plan(start, goal)

    # -- execution -----------------------------------------------------------------------------
    def execute(self, handle: ServerGoalHandle) -> MoveArm.Result:
        request, result = handle.request, MoveArm.Result()
        if self.moveit is not None:
            return self.execute_moveit(handle)
        try:
            start = self.current_positions()
            path = self.plan(request, start)
            if not self.robot.wait_for_server(timeout_sec=2.0):
                raise UnavailableError(
                    f"the robot's {self.robot_action} action is not available; is the sim or "
                    "the Franka bridge running?"
                )
        except MaestroError as exc:
            handle.abort()
            result.error_code, result.message = int(exc.code), str(exc)
            return result
        with self._lock:
            tcp_path = [self.kinematics.fk(q)[:3, 3] for q in [start, *path]]
        self.markers.publish(markers.path("planned_path", tcp_path, Header(frame_id="base")))
        scaling = request.velocity_scaling if 0 < request.velocity_scaling <= 1 else 1.0
        times = time_path(start, path, self.max_velocity * scaling)
        trajectory = JointTrajectory(
            joint_names=list(ARM),
            points=[
                JointTrajectoryPoint(positions=q.tolist(), time_from_start=_duration(t))
                for q, t in zip(path, times, strict=True)
            ],
        )

        def relay(message: Any) -> None:
            fb = message.feedback
            if len(fb.actual) == 7:
                with self._lock:
                    pose = self.kinematics.fk(np.asarray(fb.actual))
                handle.publish_feedback(
                    MoveArm.Feedback(
                        state=MoveArm.Feedback.MOVING, progress=fb.progress, current_pose=matrix_to_pose(pose)
                    )
                )

        sent = wait_future_blocking(
            self.robot.send_goal_async(
                ExecuteTrajectory.Goal(trajectory=trajectory), feedback_callback=relay
            ),
            10.0,
        )
        if sent is None or not sent.accepted:
            handle.abort()
            result.error_code, result.message = (
                int(ErrorCode.UNAVAILABLE),
                "the robot did not accept the trajectory",
            )
            return result
        done = threading.Event()
        outcome = sent.get_result_async()
        outcome.add_done_callback(lambda _: done.set())
        while not done.wait(0.02):
            if handle.is_cancel_requested:
                wait_future_blocking(sent.cancel_goal_async(), 2.0)
                done.wait(2.0)
                handle.canceled()
                result.error_code, result.message = (
                    int(ErrorCode.CANCELED),
                    "canceled; the arm holds its position",
                )
                return result
        robot = outcome.result().result
        final = np.asarray(robot.final_positions) if len(robot.final_positions) == 7 else path[-1]
        with self._lock:
            pose = self.kinematics.fk(final)
            goal_pose = self.kinematics.fk(path[-1])
        result.final_joint_positions = final.tolist()
        result.final_pose = matrix_to_pose(pose)
        result.position_error = float(np.linalg.norm(pose[:3, 3] - goal_pose[:3, 3]))
        result.success, result.error_code, result.message = robot.success, robot.error_code, robot.message
        (handle.succeed if result.success else handle.abort)()
        return result


def _moveit_goal(moveit: MoveItMotion, request: MoveArm.Goal) -> None:
    if request.mode == MoveArm.Goal.JOINTS:
        moveit.move_to_joints(list(request.joint_names), list(request.joint_positions))
    elif request.waypoints and all(w.header.frame_id for w in request.waypoints):
        moveit.move_to_poses(list(request.waypoints))
    else:
        raise InvalidArgumentError(
            "give joint positions (JOINTS) or waypoints with a frame_id (POSE, WAYPOINTS)"
        )


def main(args: Sequence[str] | None = None) -> int:
    return run_node(MotionNode, args)


if __name__ == "__main__":
    sys.exit(main())
