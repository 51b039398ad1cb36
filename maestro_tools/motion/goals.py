"""MoveArm goals checked field by field, and turned into TCP targets or a joint goal.

``check_goal`` runs before any planning, for every backend: enumerations, ``velocity_scaling`` and
``timeout`` ranges, counts, frame ids, finite poses with unit quaternions, finite joint positions.
``pose_targets`` and ``joint_goal`` then read the goal for the mink backend (TF lookups, joint limits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from geometry_msgs.msg import PoseStamped

from maestro_msgs.action import MoveArm
from maestro_tools.common.conversions import pose_to_matrix
from maestro_tools.common.errors import InvalidArgumentError, MaestroTimeoutError, OutOfLimitsError
from maestro_tools.common.validate import NAME_LIMIT, items, number, numbers, pose, quote, text
from maestro_tools.motion.obstacles import HeldVolume

MODES = "0 POSE, 1 WAYPOINTS, 2 JOINTS"
PATHS = "0 AUTO, 1 CARTESIAN, 2 PLANNED"
MAX_WAYPOINTS = 200
MAX_JOINTS = 64
MAX_TIMEOUT = 3600.0  # s
MIN_SCALING = 0.01  # below this a motion would take hours
CONTACT_DEPTH = 0.01  # m: a contact goal's default depth limit
MAX_CONTACT_DEPTH = 0.05  # m
MAX_HELD_SIZE = 0.5  # m: the largest side of an attached (held) object's box


def check_goal(goal: MoveArm.Goal) -> None:
    """Refuse a malformed goal, naming the field, its value and the valid values."""
    if goal.mode not in (MoveArm.Goal.POSE, MoveArm.Goal.WAYPOINTS, MoveArm.Goal.JOINTS):
        raise InvalidArgumentError(f"unknown mode {goal.mode}; valid: {MODES}")
    if goal.path not in (MoveArm.Goal.PATH_AUTO, MoveArm.Goal.PATH_CARTESIAN, MoveArm.Goal.PATH_PLANNED):
        raise InvalidArgumentError(f"unknown path {goal.path}; valid: {PATHS}")
    scaling = number(
        "velocity_scaling",
        goal.velocity_scaling,
        0.0,
        1.0,
        note="0 = the node's default, 1",
        error=OutOfLimitsError,
    )
    if 0.0 < scaling < MIN_SCALING:
        raise OutOfLimitsError(
            f"velocity_scaling = {scaling:g} is out of range; valid: 0 (the node's default, 1) or "
            f"[{MIN_SCALING:g}, 1]"
        )
    number("timeout", goal.timeout, 0.0, MAX_TIMEOUT, unit=" s", note="0 = no time limit")
    number(
        "max_depth",
        goal.max_depth,
        0.0,
        float(np.float32(MAX_CONTACT_DEPTH)),  # a float32 field: 0.05 arrives as 0.0500000007
        unit=" m",
        note=f"0 = {CONTACT_DEPTH:g} m with contact",
    )
    if goal.max_depth > 0 and not goal.contact:
        raise InvalidArgumentError("max_depth applies to contact moves only; set contact (or max_depth 0)")
    if goal.contact and goal.mode == MoveArm.Goal.JOINTS:
        raise InvalidArgumentError("contact applies to POSE and WAYPOINTS goals (TCP paths), not JOINTS")
    size = held_size(goal)
    if size.any() and not size.all():
        raise InvalidArgumentError(
            f"held_size {size.tolist()} has a zero side; valid: all three sides > 0 (a held box) or all 0"
        )
    if size.any():
        pose("held_pose", goal.held_pose)
    items("waypoints", goal.waypoints, MAX_WAYPOINTS)
    for index, stamped in enumerate(goal.waypoints):
        text(f"waypoints[{index}].header.frame_id", stamped.header.frame_id, NAME_LIMIT)
        pose(f"waypoints[{index}].pose", stamped.pose)
    items("joint_names", goal.joint_names, MAX_JOINTS)
    for index, name in enumerate(goal.joint_names):
        text(f"joint_names[{index}]", name, NAME_LIMIT)
    items("joint_positions", goal.joint_positions, MAX_JOINTS)
    numbers("joint_positions", goal.joint_positions)
    if goal.mode == MoveArm.Goal.JOINTS:
        if not goal.joint_names:
            raise InvalidArgumentError("a JOINTS goal needs joint_names and joint_positions")
    elif not goal.waypoints or (goal.mode == MoveArm.Goal.POSE and len(goal.waypoints) != 1):
        raise InvalidArgumentError(
            f"POSE needs exactly one waypoint, WAYPOINTS at least one; got {len(goal.waypoints)}"
        )


def held_size(goal: MoveArm.Goal) -> np.ndarray:
    """The held box's sides (m), each checked: 0 (nothing attached) up to ``MAX_HELD_SIZE``."""
    sides = goal.held_size
    return np.array(
        [
            number(f"held_size.{name}", value, 0.0, MAX_HELD_SIZE, unit=" m", note="0 = nothing attached")
            for name, value in (("x", sides.x), ("y", sides.y), ("z", sides.z))
        ]
    )


def held_volume(goal: MoveArm.Goal, holding: bool) -> HeldVolume | None:
    """What moves with the hand: nothing (None) unless the gripper is ``holding``; then the goal's held
    box where it gives one, else the gripper's own volume."""
    if not holding:
        return None
    size = held_size(goal)
    return HeldVolume(pose_to_matrix(goal.held_pose), size) if size.all() else HeldVolume()


def velocity_scaling(goal: MoveArm.Goal) -> float:
    """The goal's scaling of the maximum joint velocity (0 means the default, 1)."""
    return float(goal.velocity_scaling) or 1.0


def contact_depth(goal: MoveArm.Goal) -> float | None:
    """How deep a contact goal may touch (m), or None for a goal that keeps clear of everything."""
    return (float(goal.max_depth) or CONTACT_DEPTH) if goal.contact else None


def check_duration(goal: MoveArm.Goal, ends: float) -> None:
    """Refuse a motion that would end ``ends`` s after the goal arrived, beyond the goal's timeout."""
    if 0 < goal.timeout < ends:
        raise MaestroTimeoutError(
            f"the motion would end {ends:.1f} s after the goal arrived (planning included), beyond its "
            f"timeout of {goal.timeout:g} s; raise timeout or velocity_scaling"
        )


def pose_targets(goal: MoveArm.Goal, to_base: Callable[[PoseStamped], np.ndarray]) -> list[np.ndarray]:
    """The goal's waypoints as 4x4 TCP poses in the base frame (``to_base`` looks the frames up in TF)."""
    targets = []
    for index, stamped in enumerate(goal.waypoints):
        target = to_base(stamped)  # NotFoundError naming the frames that exist for an unknown frame
        if not np.isfinite(target).all():
            raise InvalidArgumentError(
                f"waypoint {index} in {quote(stamped.header.frame_id)} is not finite in the base frame"
            )
        targets.append(target)
    return targets


def joint_goal(goal: MoveArm.Goal, arm: Sequence[str], lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The goal's joint positions in ``arm`` order, each within its limits (OUT_OF_LIMITS otherwise)."""
    names = list(goal.joint_names)
    if sorted(names) != sorted(arm) or len(goal.joint_positions) != len(names):
        given = ", ".join(quote(n, 40) for n in names[:10]) or "none"
        raise InvalidArgumentError(
            f"a joint goal needs all of {', '.join(arm)} with one position each; got {given} with "
            f"{len(goal.joint_positions)} position(s)"
        )
    positions = np.array([goal.joint_positions[names.index(n)] for n in arm], dtype=np.float64)
    outside = [
        f"{arm[i]} = {positions[i]:.4f} outside [{lower[i]:.4f}, {upper[i]:.4f}]"
        for i in range(len(arm))
        if not lower[i] <= positions[i] <= upper[i]
    ]
    if outside:
        raise OutOfLimitsError(f"joint_positions beyond the joint limits (rad): {'; '.join(outside)}")
    return positions
