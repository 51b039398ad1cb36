"""``robot``: the arm, the gripper and the cameras, as generated code sees them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from control_msgs.action import GripperCommand
from control_msgs.msg import GripperCommand as GripperGoal
from transforms3d.euler import mat2euler

from maestro_agent.proxy.arm_checks import (
    PATHS,
    REACH_TOLERANCE,
    SETTLE_S,
    FailureFeedback,
    Held,
    attach,
    held_box,
    lost_hold,
    move_goal,
    name_obstacle,
    settle,
    settled_width,
    short_message,
    shortfall,
    where_it_fell,
    wrist_hint,
)
from maestro_agent.proxy.geometry import arc_poses, check_vector, rpy_rotation, unit_vector
from maestro_agent.proxy.harness import Harness, show, tool
from maestro_agent.proxy.registry import register_tool
from maestro_agent.proxy.ros_client import RosClient, raise_for
from maestro_agent.proxy.types import Detection, GripperState, Observation, RobotState
from maestro_msgs.action import MoveArm
from maestro_msgs.srv import Detect
from maestro_tools.common.conversions import pose_to_matrix
from maestro_tools.common.errors import (
    CollisionError,
    GraspFailedError,
    InvalidArgumentError,
    MaestroError,
    ObjectDroppedError,
    StalledError,
    UnavailableError,
    UnreachableError,
)
from maestro_tools.robots.gripper import command_position, holding, judge_grasp, opening

__all__ = ["PATHS", "REACH_TOLERANCE", "SETTLE_S", "Robot"]


class Robot:
    """The arm and gripper. Positions are metres in the robot base frame (x forward, y left, z up; the table
    top is z = 0); orientations are roll, pitch, yaw in radians; (pi, 0, 0) points the gripper down."""

    module = "robot"

    def __init__(self, ros: RosClient | None, harness: Harness) -> None:
        self._ros, self._harness = ros, harness
        self._profile = harness.robot
        self._commanded: float | None = None  # the last opening commanded (m), None before any
        self._held: Held | None = None  # what the last grasp holds (the harness watches it)
        self._last_seen: dict[str, list[Detection]] = {}  # camera -> its latest detections
        self._detect = None  # the detector's service: names what a refused path would hit
        if ros is not None:
            self._move_arm = ros.action(MoveArm, "move_arm")
            self._gripper_action = ros.action(GripperCommand, ros.interface.gripper_action)
            self._detect = ros.service(Detect, "detect") if self._profile.camera_names else None

    def _new_trial(self) -> None:
        """A new trial (the scene may have been reset): nothing is known to be held or commanded."""
        self._commanded, self._held, self._last_seen = None, None, {}

    def _remember_seen(self, camera: str, detections: Sequence[Detection]) -> None:
        """The objects a camera's detection just saw (perception tells): the next grasp attaches the one
        between the fingers to the hand for the motion, as MoveIt attaches an object, so that all of it
        moves with the hand (a bowl held at its rim reaches far beyond the fingers)."""
        self._last_seen[camera] = list(detections)

    def _hold(self, width: float) -> Held:
        tcp, seen = self._ros.tcp_pose(), [d for found in self._last_seen.values() for d in found]
        return Held(width, tcp[:3, 3], held_box(seen, tcp))

    # -- state -----------------------------------------------------------------------------------
    def _finger_width(self) -> float | None:
        """The opening from joint states, None when they carry no finger joints."""
        joints = self._ros.joints()
        fingers = self._profile.gripper.finger_joints
        return float(sum(joints[n] for n in fingers)) if all(n in joints for n in fingers) else None

    def _gripper(self) -> GripperState:
        return self._state(self._finger_width() or 0.0)

    def _state(self, width: float, held: bool | None = None) -> GripperState:
        gripper = self._profile.gripper
        fraction = float(np.clip(1.0 - width / gripper.max_width, 0.0, 1.0))
        if held is None:
            held = holding(width, gripper, self._commanded)
        return GripperState(width=width, fraction_closed=fraction, holding=held)

    def _robot_state(self, pose: np.ndarray, joints: np.ndarray | None = None) -> RobotState:
        if joints is None or len(joints) != len(self._profile.arm.joints):
            current = self._ros.joints()
            joints = np.array([current.get(name, np.nan) for name in self._profile.arm.joints])
        return RobotState(
            position=pose[:3, 3].copy(),
            orientation=np.array(mat2euler(pose[:3, :3], "sxyz")),
            rotation=pose[:3, :3].copy(),
            joint_positions=np.asarray(joints, dtype=float),
            gripper=self._gripper(),
        )

    @tool("control")
    def get_state(self) -> RobotState:
        """Gripper position and orientation, joint positions, and the gripper: its opening, fraction_closed
        0 (open) to 1 (closed), and holding (the fingers stopped on something: wider than fully closed and
        short of the opening last commanded)."""
        return self._robot_state(self._ros.tcp_pose())

    @tool("perception")
    def get_image(self, camera: str = "") -> np.ndarray:
        """The current RGB image (H, W, 3) of a camera (see the robot's cameras); it is also shown to you."""
        camera = self._harness.check_camera(camera)
        image = self._ros.frame(camera).rgb
        show(f"{camera} camera", image)
        return image

    @tool("perception")
    def get_observation(self, camera: str = "") -> Observation:
        """A camera's RGB image, depth image, intrinsics and pose in the base frame, taken together (a pixel
        (u, v) at depth z lies at camera_pose @ [(u - cx) * z / fx, (v - cy) * z / fy, z, 1])."""
        camera = self._harness.check_camera(camera)
        frame = self._ros.frame(camera)
        show(f"{camera} camera", frame.rgb)
        return Observation(camera, frame.rgb, frame.depth, frame.intrinsics, frame.camera_pose)

    # -- arm -------------------------------------------------------------------------------------
    def _goal(
        self,
        poses: Sequence[np.ndarray],
        path: str,
        speed: float,
        contact: bool = False,
        max_depth: float = 0.0,
    ) -> MoveArm.Goal:
        return move_goal(poses, path, speed, contact, max_depth, self._profile.base_frame)

    def _target(self, position: Sequence[float], orientation: Sequence[float] | None) -> np.ndarray:
        pose = np.eye(4)
        pose[:3, 3] = self._harness.check_position(position)
        pose[:3, :3] = self._ros.tcp_pose()[:3, :3] if orientation is None else rpy_rotation(orientation)
        return pose

    def _move(self, goal: MoveArm.Goal) -> RobotState:
        """Run a MoveArm goal; the state where the arm ended. Raises when it ended short of its target
        and, with the harness, when the object held fell out or was released on the way."""
        try:
            result = self._ros.act(
                self._move_arm, attach(goal, self._held), self._harness.motion_timeout_s, self._watch()
            )
            try:
                raise_for(result)
            except CollisionError as exc:
                raise CollisionError(name_obstacle(str(exc), self._seen(str(exc)))) from None
            except UnreachableError as exc:  # say how this wrist points down, when the goal missed it
                raise UnreachableError(str(exc) + wrist_hint(goal, self._profile.arm)) from None
            try:
                state = self._robot_state(
                    pose_to_matrix(result.final_pose), np.asarray(result.final_joint_positions)
                )
            except InvalidArgumentError:  # a backend that leaves final_pose empty: read the state instead
                state = self.get_state()
            if (width := self._finger_width()) is not None:
                self._check_held(width, state.position)
        except ObjectDroppedError as exc:  # say where it probably fell, once it has come to rest
            lost_at = self._ros.tcp_pose()[:3, 3]
            settle(lambda: self._ros.tcp_pose()[:3, 3], hold_s=0.5, clock=self._ros.state_time)
            raise ObjectDroppedError(str(exc) + where_it_fell(lost_at, self._seen("drop"))) from None
        arm = self._profile.arm
        tolerances = (arm.reach_tolerance, arm.joint_tolerance)
        if shortfall(goal, state, *tolerances) > 0:  # not there yet: judge where the arm comes to rest
            settle(lambda: self._ros.tcp_pose()[:3, 3], clock=self._ros.state_time)
            state = self.get_state()
            if shortfall(goal, state, *tolerances) > 0:
                raise StalledError(short_message(goal, state, arm.joints, *tolerances))
        return state

    def _seen(self, reason: str) -> list:
        """The detection camera's objects, for naming what a refusal would hit ("a seen object at" in
        ``reason``) or what fell ("drop"); [] without the harness, a detector or an answer within 5 s."""
        if not self._harness.enabled or self._detect is None:
            return []
        if reason != "drop" and "a seen object at" not in reason:
            return []
        try:
            request = Detect.Request(labels=[], camera=self._profile.detection_camera)
            response = self._ros.call(self._detect, request, min(5.0, self._harness.service_timeout_s))
        except MaestroError:
            return []
        from maestro_agent.proxy.perception import to_detection  # perception imports this module

        return [to_detection(d) for d in response.detections if d.has_3d]

    def _watch(self) -> Callable[[MoveArm.Feedback], None] | None:
        """The harness's checks on a motion's feedback: failure states, and the object held."""
        if not self._harness.enabled:
            return None
        failures = FailureFeedback()

        def check(feedback: MoveArm.Feedback) -> None:
            failures(feedback)
            if self._held is not None and (width := self._finger_width()) is not None:
                self._check_held(width, self._ros.tcp_pose()[:3, 3])

        return check

    def _check_held(self, width: float, where: np.ndarray) -> None:
        """Raise ObjectDroppedError (harness on) when the opening says the held object is gone."""
        if self._held is None or not self._harness.enabled:
            return
        if (error := lost_hold(self._held, width, where, self._profile.gripper)) is not None:
            self._held = None
            raise error

    @tool("control")
    def move_gripper_to(
        self,
        position: Sequence[float],
        orientation: Sequence[float] | None = None,
        path: str = "auto",
        speed: float = 1.0,
        contact: bool = False,
        max_depth: float = 0.0,
    ) -> RobotState:
        """Move the gripper to ``position`` [x, y, z] with ``orientation`` [roll, pitch, yaw] (None keeps the
        current one). path: "auto" (straight line, or a planned path around obstacles), "line", "planned".
        speed: 0..1 of the maximum. contact=True for moves meant to touch (wiping, pushing, pressing a
        handle): the hand, fingers and what they hold may touch the seen objects and the table up to
        ``max_depth`` m deep (0: 1 cm; at most 5 cm); the move stops when the gripper is held back more than
        max_depth + 1 cm. Returns the state where the gripper ended. Raises CollisionError naming what the
        path would hit (the table, the arm itself, or which object and where), UnreachableError /
        StalledError saying what failed (StalledError too when it comes to rest more than 5 mm from the
        target), and ObjectDroppedError when what the gripper held fell out (or it opened) on the way."""
        goal = self._goal([self._target(position, orientation)], path, speed, contact, max_depth)
        if not self._harness.enabled or path != "line":
            return self._move(goal)
        try:
            return self._move(goal)
        except UnreachableError:  # harness: a blocked straight line may still have a planned path
            goal.path = MoveArm.Goal.PATH_PLANNED
            return self._move(goal)

    @tool("control")
    def move_gripper_by(
        self,
        offset: Sequence[float],
        path: str = "line",
        speed: float = 1.0,
        contact: bool = False,
        max_depth: float = 0.0,
    ) -> RobotState:
        """Move the gripper by ``offset`` [dx, dy, dz] metres in the base frame, keeping its orientation
        (contact, max_depth: as in move_gripper_to)."""
        delta = np.asarray(offset, dtype=float).ravel()
        if delta.size != 3 or not np.isfinite(delta).all():
            raise InvalidArgumentError(f"offset must be [dx, dy, dz] in metres; got {offset!r}")
        pose = self._ros.tcp_pose()
        return self.move_gripper_to(pose[:3, 3] + delta, None, path, speed, contact, max_depth)

    @tool("control")
    def move_gripper_along(
        self,
        waypoints: Sequence[tuple[Sequence[float], Sequence[float] | None]],
        speed: float = 1.0,
        contact: bool = False,
        max_depth: float = 0.0,
    ) -> RobotState:
        """Move through ``waypoints``, a list of (position, orientation or None), in straight lines (e.g. a
        geometry.wipe_path with contact=True; contact, max_depth: as in move_gripper_to)."""
        if not waypoints:
            raise InvalidArgumentError("waypoints is empty; give a list of (position, orientation) pairs")
        poses = [self._target(position, orientation) for position, orientation in waypoints]
        path = "line" if contact else "auto"
        return self._move(self._goal(poses, path, speed, contact, max_depth))

    @tool("control")
    def move_gripper_arc(
        self,
        pivot: Sequence[float],
        axis: Sequence[float],
        degrees: float,
        speed: float = 0.3,
        contact: bool = True,
        max_depth: float = 0.0,
    ) -> RobotState:
        """Turn the gripper ``degrees`` about the line through ``pivot`` along ``axis`` (right-handed:
        positive is counterclockwise looking down the axis), its orientation turning with it: opening a
        door or a lid held by its handle (see geometry.hinge_axis / fit_hinge). Waypoints every 5 degrees,
        in straight lines; contact (default True: what the gripper holds is pulled along) and max_depth as
        in move_gripper_to. Raises as move_gripper_to; StalledError when the part resists (a wrong
        hinge, or its end stop)."""
        turn = float(degrees)
        if not np.isfinite(turn) or not 0.0 < abs(turn) <= 270.0:
            raise InvalidArgumentError(f"degrees must be in [-270, 270] and not 0; got {degrees!r}")
        centre, direction = check_vector(pivot, 3, "pivot"), unit_vector(axis, "axis")
        poses = arc_poses(self._ros.tcp_pose(), centre, direction, turn)
        for pose in poses:
            self._harness.check_position(pose[:3, 3])
        return self._move(self._goal(poses, "line", speed, contact, max_depth))

    @tool("control")
    def move_joints(self, positions: Sequence[float], speed: float = 1.0) -> RobotState:
        """Move the arm joints (all of them, radians, in get_state().joint_positions order) to ``positions``
        along a collision-free path; StalledError if a joint comes to rest more than 0.01 rad from it."""
        joints = self._profile.arm.joints
        values = np.asarray(positions, dtype=float).ravel()
        if values.size != len(joints):
            raise InvalidArgumentError(f"positions must have {len(joints)} joint angles; got {values.size}")
        goal = MoveArm.Goal(
            mode=MoveArm.Goal.JOINTS,
            path=MoveArm.Goal.PATH_PLANNED,
            joint_names=list(joints),
            joint_positions=values.tolist(),
            velocity_scaling=float(speed),
        )
        return self._move(goal)

    @tool("control")
    def move_home(self) -> RobotState:
        """Move the arm to its home posture (gripper down, cameras unobstructed)."""
        return self.move_joints(self._profile.arm.home)

    # -- gripper ---------------------------------------------------------------------------------
    def _gripper_command(self, width: float, force: float) -> float:
        """Send the gripper to ``width`` (m) squeezing what stops it with ``force`` N (0: the driver's
        default); the opening once the fingers stopped, as joint states show it."""
        goal = GripperCommand.Goal(
            command=GripperGoal(position=command_position(width, self._profile.gripper), max_effort=force)
        )
        result = self._ros.act(self._gripper_action, goal, self._harness.motion_timeout_s)
        if result is None:
            raise UnavailableError("the gripper controller gave no result")
        self._commanded = width
        return self._settled_width(opening(result.position, self._profile.gripper))

    def _settled_width(self, reported: float) -> float:
        if self._finger_width() is None:
            return reported
        return settled_width(lambda: self._finger_width() or 0.0, reported)

    @tool("control")
    def open_gripper(self, width: float | None = None) -> GripperState:
        """Open the gripper fully, or to ``width`` metres (e.g. just wider than a cup's wall when a finger is
        inside it); returns once the fingers have stopped, with their opening."""
        gripper = self._profile.gripper
        target = gripper.max_width if width is None else float(width)
        if not 0.0 < target <= gripper.max_width:
            raise InvalidArgumentError(f"width must be in (0, {gripper.max_width}] m or None; got {width}")
        state = self._state(self._gripper_command(target, 0.0))
        self._held = None
        return state

    @tool("control")
    def close_gripper(self) -> GripperState:
        """Close the gripper fully with the default force; returns once the fingers have stopped, with their
        opening (holding=True when they stopped on something). To hold an object use grasp(): it says
        whether one is held."""
        gripper = self._profile.gripper
        state = self._state(self._gripper_command(0.0, gripper.grasp_force))
        self._held = self._hold(state.width) if state.holding else None
        return state

    @tool("control")
    def grasp(self, expected_width: float | None = None, force: float | None = None) -> GripperState:
        """Close on the object between the fingers, squeezing with ``force`` newtons (None: the gripper's
        default grasp force, at most its max force; e.g. the Franka Hand: 70 N, at most 140 N; pinch cloth
        with about 20 N, more squeezes through it), and judge it as a real gripper does, by where the
        fingers stopped: on nothing (fully closed), or, if you give the object's ``expected_width`` in
        metres, well inside it, raises GraspFailedError (move back up, open, and approach again, e.g. lower
        or re-detected). Returns once the fingers stopped, with their opening. After a grasp, a move during
        which the object falls out (or the gripper opens) raises ObjectDroppedError, and moves plan the
        object between the fingers (the box its latest detection saw) as part of the hand."""
        gripper = self._profile.gripper
        squeeze = gripper.grasp_force if force is None else float(force)
        if not 0.0 < squeeze <= gripper.max_force:
            raise InvalidArgumentError(f"force must be in (0, {gripper.max_force:g}] N; got {force}")
        if expected_width is not None and not 0.0 < float(expected_width) <= gripper.max_width:
            raise InvalidArgumentError(
                f"expected_width must be in (0, {gripper.max_width}] m; got {expected_width}"
            )
        judgement = judge_grasp(self._gripper_command(0.0, squeeze), gripper, expected_width)
        self._held = self._hold(judgement.width) if judgement.held else None
        position = self._ros.tcp_pose()[:3, 3]
        if not judgement.held and self._harness.enabled:
            raise GraspFailedError(
                f"{judgement.message} at {np.round(position, 3).tolist()}; open the gripper and approach "
                "again, e.g. lower or re-detected"
            )
        return self._state(judgement.width, judgement.held)


register_tool("robot", ("arm", "gripper"), lambda ros, harness, built: Robot(ros, harness), group="S0")
