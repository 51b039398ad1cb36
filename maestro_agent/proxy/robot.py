"""``robot``: the arm, the gripper and the cameras, as generated code sees them."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from control_msgs.action import GripperCommand
from control_msgs.msg import GripperCommand as GripperGoal
from geometry_msgs.msg import PoseStamped
from transforms3d.euler import euler2mat, mat2euler

from maestro_agent.proxy.harness import Harness, show, tool
from maestro_agent.proxy.registry import register_tool
from maestro_agent.proxy.ros_client import RosClient, raise_for
from maestro_agent.proxy.types import GripperState, RobotState
from maestro_msgs.action import MoveArm
from maestro_tools.common.conversions import matrix_to_pose
from maestro_tools.common.errors import (
    CollisionError,
    GraspFailedError,
    InvalidArgumentError,
    StalledError,
    UnavailableError,
    UnreachableError,
)
from maestro_tools.robots.gripper import command_position, holding, judge_grasp, opening

PATHS = {
    "auto": MoveArm.Goal.PATH_AUTO,
    "line": MoveArm.Goal.PATH_CARTESIAN,
    "planned": MoveArm.Goal.PATH_PLANNED,
}
FEEDBACK_FAILURES = {
    MoveArm.Feedback.STALLED: (StalledError, "the arm stalled (blocked by contact?)"),
    MoveArm.Feedback.BLOCKED: (CollisionError, "the path is blocked by a collision"),
    MoveArm.Feedback.UNREACHABLE: (UnreachableError, "the target became unreachable"),
}
FAILURE_GRACE_S = 0.3


class FailureFeedback:
    """The harness's feedback check: raise inside the running code when a motion keeps reporting STALLED,
    BLOCKED or UNREACHABLE for FAILURE_GRACE_S. A node that stops on such a failure sends its result, with
    the fuller reason, well within that time; this catches a backend that reports the failure and goes on."""

    def __init__(self) -> None:
        self.since: float | None = None

    def __call__(self, feedback: MoveArm.Feedback) -> None:
        if feedback.state not in FEEDBACK_FAILURES:
            self.since = None
            return
        now = time.monotonic()
        self.since = now if self.since is None else self.since
        if now - self.since >= FAILURE_GRACE_S:
            error, text = FEEDBACK_FAILURES[feedback.state]
            raise error(
                f"{text} at {_position(feedback.current_pose)}; try another path or a higher approach"
            )


def _position(pose: object) -> list[float]:
    return np.round([pose.position.x, pose.position.y, pose.position.z], 3).tolist()


class Robot:
    """The arm and gripper. Positions are metres in the robot base frame (x forward, y left, z up; the table
    top is z = 0); orientations are roll, pitch, yaw in radians; geometry.DOWN points the gripper down."""

    module = "robot"

    def __init__(self, ros: RosClient | None, harness: Harness) -> None:
        self._ros, self._harness = ros, harness
        self._profile = harness.robot
        if ros is not None:
            self._move_arm = ros.action(MoveArm, "move_arm")
            self._gripper_action = ros.action(GripperCommand, ros.interface.gripper_action)

    # -- state -----------------------------------------------------------------------------------
    def _gripper(self) -> GripperState:
        joints = self._ros.joints()
        gripper = self._profile.gripper
        width = float(sum(joints.get(name, 0.0) for name in gripper.finger_joints))
        return self._state(width)

    def _state(self, width: float, held: bool | None = None) -> GripperState:
        gripper = self._profile.gripper
        fraction = float(np.clip(1.0 - width / gripper.max_width, 0.0, 1.0))
        return GripperState(
            width=width, fraction_closed=fraction, holding=holding(width, gripper) if held is None else held
        )

    @tool("control")
    def get_state(self) -> RobotState:
        """Gripper position and orientation, joint positions, and the gripper: its opening, fraction_closed
        0 (open) to 1 (closed), and holding (the fingers stopped between fully closed and fully open)."""
        pose = self._ros.tcp_pose()
        joints = self._ros.joints()
        return RobotState(
            position=pose[:3, 3].copy(),
            orientation=np.array(mat2euler(pose[:3, :3], "sxyz")),
            rotation=pose[:3, :3].copy(),
            joint_positions=np.array([joints.get(name, np.nan) for name in self._profile.arm.joints]),
            gripper=self._gripper(),
        )

    @tool("perception")
    def get_image(self, camera: str = "") -> np.ndarray:
        """The current RGB image (H, W, 3) of a camera (see the robot's cameras); it is also shown to you."""
        camera = self._harness.check_camera(camera)
        image = self._ros.frame(camera).rgb
        show(f"{camera} camera", image)
        return image

    # -- arm -------------------------------------------------------------------------------------
    def _goal(self, poses: Sequence[np.ndarray], path: str, speed: float) -> MoveArm.Goal:
        if path not in PATHS:
            raise InvalidArgumentError(f"unknown path {path!r}; valid: {', '.join(PATHS)}")
        if not 0.0 < speed <= 1.0:
            raise InvalidArgumentError(f"speed must be in (0, 1]; got {speed}")
        goal = MoveArm.Goal(
            mode=MoveArm.Goal.POSE if len(poses) == 1 else MoveArm.Goal.WAYPOINTS,
            path=PATHS[path],
            velocity_scaling=float(speed),
        )
        for pose in poses:
            stamped = PoseStamped(pose=matrix_to_pose(pose))
            stamped.header.frame_id = self._profile.base_frame
            goal.waypoints.append(stamped)
        return goal

    def _target(self, position: Sequence[float], orientation: Sequence[float] | None) -> np.ndarray:
        pose = np.eye(4)
        pose[:3, 3] = self._harness.check_position(position)
        if orientation is None:
            pose[:3, :3] = self._ros.tcp_pose()[:3, :3]
        else:
            values = np.asarray(orientation, dtype=float).ravel()
            if values.size != 3 or not np.isfinite(values).all():
                raise InvalidArgumentError(
                    f"orientation must be [roll, pitch, yaw] in radians; got {orientation!r}"
                )
            pose[:3, :3] = euler2mat(*values, "sxyz")
        return pose

    def _move(self, goal: MoveArm.Goal) -> RobotState:
        watch = FailureFeedback() if self._harness.enabled else None
        result = self._ros.act(self._move_arm, goal, self._harness.motion_timeout_s, on_feedback=watch)
        raise_for(result)
        return self.get_state()

    @tool("control")
    def move_gripper_to(
        self,
        position: Sequence[float],
        orientation: Sequence[float] | None = None,
        path: str = "auto",
        speed: float = 1.0,
    ) -> RobotState:
        """Move the gripper to ``position`` [x, y, z] with ``orientation`` [roll, pitch, yaw] (None keeps the
        current one). path: "auto" (straight line, or a planned path around obstacles), "line", "planned".
        speed: 0..1 of the maximum. Raises UnreachableError / StalledError saying what failed."""
        goal = self._goal([self._target(position, orientation)], path, speed)
        if not self._harness.enabled or path != "line":
            return self._move(goal)
        try:
            return self._move(goal)
        except UnreachableError:  # harness: a blocked straight line may still have a planned path
            goal.path = MoveArm.Goal.PATH_PLANNED
            return self._move(goal)

    @tool("control")
    def move_gripper_by(self, offset: Sequence[float], path: str = "line", speed: float = 1.0) -> RobotState:
        """Move the gripper by ``offset`` [dx, dy, dz] metres in the base frame, keeping its orientation."""
        delta = np.asarray(offset, dtype=float).ravel()
        if delta.size != 3 or not np.isfinite(delta).all():
            raise InvalidArgumentError(f"offset must be [dx, dy, dz] in metres; got {offset!r}")
        pose = self._ros.tcp_pose()
        return self.move_gripper_to(pose[:3, 3] + delta, None, path=path, speed=speed)

    @tool("control")
    def move_gripper_along(
        self, waypoints: Sequence[tuple[Sequence[float], Sequence[float] | None]], speed: float = 1.0
    ) -> RobotState:
        """Move through ``waypoints``, a list of (position, orientation or None), in straight lines."""
        if not waypoints:
            raise InvalidArgumentError("waypoints is empty; give a list of (position, orientation) pairs")
        poses = [self._target(position, orientation) for position, orientation in waypoints]
        return self._move(self._goal(poses, "auto", speed))

    @tool("control")
    def move_joints(self, positions: Sequence[float], speed: float = 1.0) -> RobotState:
        """Move the arm joints (all of them, radians, in get_state().joint_positions order) to ``positions``
        along a collision-free path."""
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
        """Send the gripper to ``width`` (m) squeezing with at most ``force`` (N); the final opening."""
        goal = GripperCommand.Goal(
            command=GripperGoal(position=command_position(width, self._profile.gripper), max_effort=force)
        )
        result = self._ros.act(self._gripper_action, goal, self._harness.motion_timeout_s)
        if result is None:
            raise UnavailableError("the gripper controller gave no result")
        return opening(result.position, self._profile.gripper)

    @tool("control")
    def open_gripper(self) -> GripperState:
        """Open the gripper fully; returns once the fingers have stopped."""
        return self._state(self._gripper_command(self._profile.gripper.max_width, 0.0))

    @tool("control")
    def close_gripper(self) -> GripperState:
        """Close the gripper fully (use grasp() to hold an object: it says whether one is held)."""
        gripper = self._profile.gripper
        return self._state(self._gripper_command(0.0, gripper.grasp_force))

    @tool("control")
    def grasp(self, expected_width: float | None = None, force: float | None = None) -> GripperState:
        """Close on the object between the fingers with ``force`` newtons (None: the gripper's default) and
        judge it as a real gripper does, by where the fingers stopped: on nothing (fully closed), or, if you
        give the object's ``expected_width`` in metres, well inside it, raises GraspFailedError (move back
        up, open, and approach again, e.g. lower or re-detected)."""
        gripper = self._profile.gripper
        squeeze = gripper.grasp_force if force is None else float(force)
        if not 0.0 < squeeze <= gripper.max_force:
            raise InvalidArgumentError(f"force must be in (0, {gripper.max_force}] N; got {force}")
        if expected_width is not None and not 0.0 < float(expected_width) <= gripper.max_width:
            raise InvalidArgumentError(
                f"expected_width must be in (0, {gripper.max_width}] m; got {expected_width}"
            )
        judgement = judge_grasp(self._gripper_command(0.0, squeeze), gripper, expected_width)
        if not judgement.held and self._harness.enabled:
            pose = self._ros.tcp_pose()
            raise GraspFailedError(
                f"{judgement.message} at {np.round(pose[:3, 3], 3).tolist()}; open the gripper and approach "
                "again, e.g. lower or re-detected"
            )
        return self._state(judgement.width, judgement.held)


register_tool("robot", ("arm", "gripper"), lambda ros, harness, built: Robot(ros, harness))
