"""The ``motion`` node: MoveArm goals (TCP pose, waypoints, joint goal) turned into executed trajectories.

Plans from the latest ``joint_states`` with a ``PathBuilder``: mink IK and straight Cartesian lines,
checked against the declared support surfaces, the arm itself and the scene camera's depth cloud
(the objects around it; what the gripper holds moves with it; with ``floor_from_tf`` a mobile robot's
floor is the fixed frame's z = 0, placed from TF at each plan: ``floor.py``), and OMPL RRTConnect paths
around them (PATH_PLANNED, or PATH_AUTO when the line is blocked). Executes through the robot's
trajectory action (the sim node or the robot's controller), relaying its feedback (progress, waypoint,
distance remaining) and cancels; feedback reports PLANNING, and UNREACHABLE, BLOCKED or STALLED before
such a goal aborts. A joint lagging its trajectory beyond ``stall_tolerance`` for ``stall_time`` stops
the motion. Goals are checked field by field first (``goals.py``); a ``timeout`` above 0 refuses a motion
planned to end later and stops one still running then (TIMEOUT). A ``contact`` goal may touch with the
hand, the fingers and what they hold, ``max_depth`` deep, and stops when the TCP lags its path by more
than max_depth + 1 cm for 0.3 s.
Refusals name what the path would hit and where (``path_builder.py``).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from control_msgs.action import FollowJointTrajectory
from geometry_msgs.msg import PoseStamped
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from maestro_msgs.action import MoveArm
from maestro_tools.common import markers
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.conversions import matrix_to_pose
from maestro_tools.common.errors import (
    CollisionError,
    ErrorCode,
    MaestroError,
    MaestroTimeoutError,
    NoDataError,
    StalledError,
    UnavailableError,
    UnreachableError,
)
from maestro_tools.common.node_main import run_node
from maestro_tools.common.qos import LATCHED_QOS, STATE_QOS
from maestro_tools.common.spinning import wait_future_blocking
from maestro_tools.common.validate import unexpected
from maestro_tools.motion.execution import motion_result, seconds, trajectory_goal
from maestro_tools.motion.floor import TfFloor
from maestro_tools.motion.goals import (
    check_duration,
    check_goal,
    contact_depth,
    held_volume,
    joint_goal,
    pose_targets,
    velocity_scaling,
)
from maestro_tools.motion.kinematics import ArmKinematics, time_path
from maestro_tools.motion.mapped_furniture import MappedFurniture
from maestro_tools.motion.moveit_backend import MoveItMotion, load_moveit
from maestro_tools.motion.params import declare_motion_params
from maestro_tools.motion.path_builder import PathBuilder, PlannedMotion
from maestro_tools.motion.planner import JointSpacePlanner
from maestro_tools.motion.scene_clouds import SceneClouds
from maestro_tools.motion.tracking import TrackingWatch
from maestro_tools.perception.topic_source import TopicFrameSource
from maestro_tools.robots.model import RobotModel
from maestro_tools.robots.params import declare_robot, declare_surfaces

CONTACT_LAG = 0.01  # m a contact motion's TCP may lag its path beyond max_depth (tracking, friction)
JOINT_STATES_WAIT = 3.0  # s a goal waits for the first joint states (a robot driver still starting)
FURNITURE_MARGIN = 0.3  # m beyond the arm's reach within which mapped furniture counts


class MotionNode(SceneClouds, Node):
    def __init__(self) -> None:
        super().__init__("motion")
        self.profile = declare_robot(self)
        params = declare_motion_params(self, self.profile)
        self.joint_names = self.profile.joint_names(params.joint_prefix)
        self.moveit: MoveItMotion | None = None
        if params.backend == "moveit":
            self.moveit = MoveItMotion(
                load_moveit(f"{self.get_name()}_moveit_py"), params.moveit_group, params.moveit_tcp_link
            )
        surfaces = declare_surfaces(self)
        self.floor = TfFloor() if params.floor_from_tf else None
        self.robot_model = RobotModel(
            self.profile, (*surfaces, *([self.floor.surface] if self.floor else []))
        )
        if self.floor is not None:
            self.floor.attach(self.robot_model)
        self.max_velocity = params.max_joint_velocity
        self.scene_camera, self.scene_timeout = params.scene_camera, params.scene_timeout
        self.obstacle_cameras = tuple(c for c in params.obstacle_cameras if c != self.scene_camera)
        self.stall_tolerance, self.stall_time = params.stall_tolerance, params.stall_time
        self.goal_tolerance = params.goal_tolerance
        clearance, robot_action, joint_states = params.clearance, params.arm_action, params.joint_states_topic
        self.joint_states_topic = joint_states
        self.kinematics = ArmKinematics(self.robot_model)
        self.planner = JointSpacePlanner(self.robot_model, clearance=clearance)
        self.paths = PathBuilder(self.kinematics, self.planner)
        self._lock = threading.Lock()  # the kinematics model is not thread-safe
        self._joints: JointState | None = None
        self._joint_messages = 0
        self._closing = threading.Event()
        group = ReentrantCallbackGroup()
        cameras = ([self.scene_camera] if self.scene_camera else []) + list(self.obstacle_cameras)
        self.frames = TopicFrameSource(
            self, group, cameras, self.scene_timeout, on_demand=True, base_frame=self.profile.base_frame
        )
        furniture, reach = params.map_obstacles, self.profile.arm.reach + FURNITURE_MARGIN
        self.furniture = (
            MappedFurniture(self, group, self.profile.fixed_frame, furniture, reach)
            if furniture.enabled
            else None
        )
        self.create_subscription(JointState, joint_states, self._on_joints, STATE_QOS, callback_group=group)
        self.robot_action = robot_action
        self.robot = ThreadSafeActionClient(self, FollowJointTrajectory, robot_action, callback_group=group)
        self.markers = self.create_publisher(MarkerArray, "motion/markers", LATCHED_QOS)
        # The TCP in the base frame, from the joint states: what the agent's robot.get_state() reads.
        self.tcp_pub = self.create_publisher(PoseStamped, "tcp_pose", STATE_QOS)
        self.tcp_period, self._next_tcp = 1.0 / params.tcp_pose_rate, 0.0
        ActionServer(
            self,
            MoveArm,
            "move_arm",
            execute_callback=self.execute,
            goal_callback=lambda _: GoalResponse.ACCEPT,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=group,
        )

    def close(self) -> None:
        """Called by run_node on SIGINT/SIGTERM: running goals cancel their trajectory and end now."""
        self._closing.set()

    def _on_joints(self, message: JointState) -> None:
        self._joints = message
        self._joint_messages += 1
        now = time.monotonic()  # tcp_pose follows, at most tcp_pose_rate: no timer wakes the node
        if now >= self._next_tcp:
            self._next_tcp = max(self._next_tcp + self.tcp_period, now - self.tcp_period)
            self._publish_tcp(message)

    def _fresh_joints(self, timeout: float = 0.3) -> None:
        """Wait for joint states sent after this call (the controller's result may beat the last ones)."""
        seen, deadline = self._joint_messages, time.monotonic() + timeout
        while self._joint_messages < seen + 2 and time.monotonic() < deadline:
            time.sleep(0.005)

    def _publish_tcp(self, joints: JointState) -> None:
        try:
            q = self.joint_names.arm_positions(joints.name, joints.position)
        except NoDataError:
            return
        if not self._lock.acquire(blocking=False):  # planning: the next joint states will do
            self._next_tcp = 0.0
            return
        try:
            pose = self.kinematics.fk(q)
        finally:
            self._lock.release()
        message = PoseStamped(pose=matrix_to_pose(pose))
        message.header.frame_id, message.header.stamp = self.profile.base_frame, joints.header.stamp
        self.tcp_pub.publish(message)

    def current_positions(self, wait: float = 0.0) -> np.ndarray:
        """The arm's latest joint positions; waits up to ``wait`` s for the first joint states."""
        deadline = time.monotonic() + wait
        while self._joints is None and time.monotonic() < deadline:
            time.sleep(0.01)
        message = self._joints
        if message is None:
            raise NoDataError(
                f"no joint states on {self.resolve_topic_name(self.joint_states_topic)} within {wait:.0f} s; "
                "is the robot (sim node or driver) running?"
            )
        return self.joint_names.arm_positions(message.name, message.position)

    def holding(self) -> bool:
        """The gripper is partly closed: it holds something (closed on nothing reads about 0)."""
        message, gripper = self._joints, self.profile.gripper
        if message is None or gripper is None:
            return False
        width = self.joint_names.gripper_width(message.name, message.position)
        return width is not None and gripper.empty_width < width < gripper.max_width - gripper.empty_width

    # -- planning ------------------------------------------------------------------------------
    def plan(self, request: MoveArm.Goal) -> PlannedMotion:
        """Read the (checked) goal, look at the scene, then plan from the joint positions of that moment."""
        joints = request.mode == MoveArm.Goal.JOINTS
        if joints:
            goal = joint_goal(request, self.profile.arm.joints, self.kinematics.lower, self.kinematics.upper)
        else:
            goal = pose_targets(
                request, lambda stamped: self.frames.tf.pose_in(stamped, self.profile.base_frame)
            )
        cloud, viewpoint, note, others = self.scene_clouds()
        start, held = self.current_positions(wait=JOINT_STATES_WAIT), held_volume(request, self.holding())
        floor = self._base_in_fixed(None) if self.floor is not None else None
        with self._lock:
            if self.floor is not None:
                self.floor.place(self.robot_model.model, floor)
            if joints:
                motion = self.paths.to_joints(start, goal, request.path, cloud, held, viewpoint, others)
            else:
                depth = contact_depth(request)
                motion = self.paths.to_poses(start, goal, request.path, cloud, held, viewpoint, depth, others)
        motion.note = note
        return motion

    # -- execution -----------------------------------------------------------------------------
    def _fk(self, q: np.ndarray) -> np.ndarray:
        with self._lock:
            return self.kinematics.fk(q)

    def _feedback(self, handle: ServerGoalHandle, state: int, **fields: Any) -> None:
        handle.publish_feedback(MoveArm.Feedback(state=state, **fields))

    def _fail(self, handle: ServerGoalHandle, exc: MaestroError, state: int | None = None) -> MoveArm.Result:
        if state is not None:
            try:
                self._feedback(handle, state, current_pose=matrix_to_pose(self._fk(self.current_positions())))
            except NoDataError:
                self._feedback(handle, state)
        if handle.is_active:
            handle.abort()
        return MoveArm.Result(error_code=int(exc.code), message=str(exc))

    def execute(self, handle: ServerGoalHandle) -> MoveArm.Result:
        """Every goal ends with a result; an error no check anticipated is BACKEND_ERROR."""
        try:
            return self._execute(handle, time.monotonic())
        except Exception as exc:  # a bad goal must never kill the node
            return self._fail(handle, unexpected(self, exc, "move_arm"))

    def _execute(self, handle: ServerGoalHandle, started: float) -> MoveArm.Result:
        request = handle.request
        try:
            check_goal(request)
        except MaestroError as exc:
            return self._fail(handle, exc)
        if self.moveit is not None:
            return self.moveit.run_goal(handle)
        self._feedback(handle, MoveArm.Feedback.PLANNING)
        try:
            motion = self.plan(request)
            times = time_path(motion.start, motion.waypoints, self.max_velocity * velocity_scaling(request))
            check_duration(request, time.monotonic() - started + (times[-1] if len(times) else 0.0))
            if not self.robot.wait_for_server(timeout_sec=2.0):
                raise UnavailableError(
                    f"the arm controller's action {self.resolve_topic_name(self.robot_action)} is not "
                    "available; is the robot interface (the sim node or the robot's controllers) running?"
                )
        except (UnreachableError, CollisionError) as exc:
            unreachable = isinstance(exc, UnreachableError)
            return self._fail(
                handle, exc, MoveArm.Feedback.UNREACHABLE if unreachable else MoveArm.Feedback.BLOCKED
            )
        except MaestroError as exc:
            return self._fail(handle, exc)
        start, path = motion.start, motion.waypoints
        with self._lock:
            tcp_path = [self.kinematics.fk(q)[:3, 3] for q in [start, *path]]
        self.markers.publish(markers.path("planned_path", tcp_path, Header(frame_id=self.profile.base_frame)))
        depth = contact_depth(request)
        watch = TrackingWatch(
            self.joint_names.arm,
            times,
            motion.segment_ends,
            tcp_path[-1],
            self._fk,
            self.stall_tolerance,
            self.stall_time,
            None if depth is None else depth + CONTACT_LAG,
        )

        def relay(message: Any) -> None:
            fb = message.feedback
            actual = np.asarray(fb.actual.positions)
            if len(actual) == len(path[-1]):
                elapsed = seconds(fb.desired.time_from_start)
                state = watch.update(elapsed, np.asarray(fb.desired.positions), actual)
                self._feedback(
                    handle,
                    MoveArm.Feedback.MOVING,
                    progress=min(1.0, elapsed / times[-1]) if len(times) else 1.0,
                    waypoint=state.waypoint,
                    current_pose=matrix_to_pose(state.tcp),
                    distance_remaining=state.distance_remaining,
                )

        limits = (self.kinematics.lower, self.kinematics.upper)
        goal = trajectory_goal(self.joint_names.arm, path, times, self.goal_tolerance, limits)
        sent = wait_future_blocking(self.robot.send_goal_async(goal, feedback_callback=relay), 10.0)
        if sent is None or not sent.accepted:
            return self._fail(handle, UnavailableError("the arm controller did not accept the trajectory"))
        done = threading.Event()
        outcome = sent.get_result_async()
        outcome.add_done_callback(lambda _: done.set())
        while not done.wait(0.01):
            if self._closing.is_set():  # shutting down: ask the controller to stop, do not wait for it
                sent.cancel_goal_async()
                return self._fail(
                    handle, UnavailableError("the motion node is shutting down; the goal was cancelled")
                )
            late = 0 < request.timeout < time.monotonic() - started
            if handle.is_cancel_requested or watch.stalled or watch.pressed or late:
                wait_future_blocking(sent.cancel_goal_async(), 2.0)
                done.wait(2.0)
                if watch.pressed:
                    return self._fail(handle, CollisionError(watch.pressed), MoveArm.Feedback.BLOCKED)
                if watch.stalled:
                    return self._fail(handle, StalledError(watch.stalled), MoveArm.Feedback.STALLED)
                if late:
                    stop = MaestroTimeoutError(f"stopped at the goal's timeout of {request.timeout:g} s")
                    return self._fail(handle, stop)
                handle.canceled()
                return MoveArm.Result(
                    error_code=int(ErrorCode.CANCELED), message="canceled; the arm holds its position"
                )
        return self._finish(handle, motion, outcome.result().result)

    def _finish(
        self, handle: ServerGoalHandle, motion: PlannedMotion, robot: FollowJointTrajectory.Result
    ) -> MoveArm.Result:
        """The MoveArm result from the controller's: where the arm ended, judged against the plan's end."""
        goal = motion.waypoints[-1]
        self._fresh_joints()
        try:
            final = self.current_positions()
        except NoDataError:
            final = goal
        with self._lock:
            pose, goal_pose = self.kinematics.fk(final), self.kinematics.fk(goal)
        result = motion_result(motion, robot, final, pose, goal_pose)
        if result.error_code == ErrorCode.STALLED:
            self._feedback(handle, MoveArm.Feedback.STALLED, current_pose=result.final_pose)
        (handle.succeed if result.success else handle.abort)()
        return result


def main(args: Sequence[str] | None = None) -> int:
    return run_node(MotionNode, args)


if __name__ == "__main__":
    sys.exit(main())
