"""What the motion node sends to the arm controller and makes of its answer, without a node: durations,
the FollowJointTrajectory goal, and the MoveArm result from the controller's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration
from control_msgs.action import FollowJointTrajectory
from control_msgs.msg import JointTolerance
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from maestro_msgs.action import MoveArm
from maestro_tools.common.conversions import matrix_to_pose
from maestro_tools.common.errors import ErrorCode
from maestro_tools.motion.path_builder import PlannedMotion

# control_msgs/FollowJointTrajectory result codes -> maestro's: a controller that ends away from the
# goal (or off the path) has met resistance, which the agent's harness treats as a stall.
CONTROLLER_ERRORS = {
    FollowJointTrajectory.Result.INVALID_GOAL: ErrorCode.INVALID_ARGUMENT,
    FollowJointTrajectory.Result.INVALID_JOINTS: ErrorCode.INVALID_ARGUMENT,
    FollowJointTrajectory.Result.OLD_HEADER_TIMESTAMP: ErrorCode.INVALID_ARGUMENT,
    FollowJointTrajectory.Result.PATH_TOLERANCE_VIOLATED: ErrorCode.STALLED,
    FollowJointTrajectory.Result.GOAL_TOLERANCE_VIOLATED: ErrorCode.STALLED,
}


def seconds(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def duration(value: float) -> Duration:
    nanoseconds = round(value * 1e9)
    return Duration(sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9)


def trajectory_goal(
    joint_names: Sequence[str],
    path: Sequence[np.ndarray],
    times: np.ndarray,
    goal_tolerance: float,
    limits: tuple[np.ndarray, np.ndarray] | None = None,
) -> FollowJointTrajectory.Goal:
    """The controller's goal: ``path`` (start excluded) reached at ``times``, within ``goal_tolerance`` rad
    of its end (0: the controller's default); with ``limits`` (lower, upper), every point inside them (an
    IK solution a hair past a stop, e.g. the PiPER's joint 3 at 0 from home, is one a controller refuses)."""
    points = [np.asarray(q, dtype=np.float64) for q in path]
    if limits is not None:
        lower, upper = (np.asarray(b, dtype=np.float64)[: len(joint_names)] for b in limits)
        points = [np.clip(q, lower, upper) for q in points]
    trajectory = JointTrajectory(
        joint_names=list(joint_names),
        points=[
            JointTrajectoryPoint(positions=q.tolist(), time_from_start=duration(t))
            for q, t in zip(points, times, strict=True)
        ],
    )
    tolerances = (
        [JointTolerance(name=n, position=goal_tolerance) for n in joint_names] if goal_tolerance > 0 else []
    )
    return FollowJointTrajectory.Goal(trajectory=trajectory, goal_tolerance=tolerances)


def motion_result(
    motion: PlannedMotion,
    robot: FollowJointTrajectory.Result,
    final: np.ndarray,
    pose: np.ndarray,
    goal_pose: np.ndarray,
) -> MoveArm.Result:
    """The MoveArm result: where the arm ended (``final`` joints, TCP ``pose``), judged against the plan's
    end (``goal_pose``), with the controller's verdict and what the plan noted."""
    ok = robot.error_code == FollowJointTrajectory.Result.SUCCESSFUL
    code = ErrorCode.OK if ok else CONTROLLER_ERRORS.get(robot.error_code, ErrorCode.BACKEND_ERROR)
    result = MoveArm.Result(
        success=ok,
        error_code=int(code),
        final_joint_positions=np.asarray(final).tolist(),
        final_pose=matrix_to_pose(pose),
        position_error=float(np.linalg.norm(pose[:3, 3] - goal_pose[:3, 3])),
    )
    result.message = robot.error_string or (
        "trajectory complete" if ok else f"controller error {robot.error_code}"
    )
    if motion.planned_segments:
        planned, avoided = motion.planned_segments, motion.obstacle_points
        result.message += f" ({planned} planned segment(s), {avoided} scene points avoided)"
    if motion.note:
        result.message += f"; {motion.note}"
    return result
