"""The harness's checks around the arm's moves: failure feedback, a move that fell short, the object held,
and which detected object a refused path would hit."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import PoseStamped, Vector3

from maestro_agent.proxy.types import Detection, RobotState
from maestro_agent.sandbox import channel
from maestro_msgs.action import MoveArm
from maestro_tools.common.conversions import matrix_to_pose, pose_to_matrix
from maestro_tools.common.errors import (
    CollisionError,
    InvalidArgumentError,
    ObjectDroppedError,
    StalledError,
    UnreachableError,
)
from maestro_tools.robots.gripper import dropped
from maestro_tools.robots.profile import ArmSpec, GripperSpec

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
REACH_TOLERANCE = 0.005  # m: a move whose gripper comes to rest farther from its target fell short
JOINT_TOLERANCE = 0.01  # rad: the same for joint goals (motion's goal_tolerance; the arm's joint_tolerance)
SETTLE_S = 1.0  # s to wait for the arm or the fingers to come to rest before judging where they are
STILL_M = 0.0005  # m (rad for joints) of change between readings that counts as still
STILL_S = 0.1  # s the readings must stay still
FELL_RADIUS = 0.3  # m around the point of a drop where a detection may be the object that fell
AGREE_M = 0.002  # m within which joint states confirm the opening a gripper action reported
RELEASED_M = 0.01  # m wider than at the grasp: the fingers opened, the object is no longer held
POLL_S = 0.01
WALL_CAP = 20.0  # x the timeout: the most wall time settle() waits on a robot clock that stops
MAX_CONTACT_DEPTH = 0.05  # m (MoveArm's limit)
OBSTACLE_MARGIN = 0.02  # m around a detection's box within which a seen point belongs to it
SEEN_POINT = re.compile(r"a seen object at \[(-?[\d.]+), (-?[\d.]+), (-?[\d.]+)\]")


HELD_MARGIN = 0.02  # m around a seen object's box within which the fingers' centre holds that object
MAX_HELD_SIZE = 0.5  # m: MoveArm's largest held box side


@dataclass(frozen=True)
class Held:
    """What the last grasp holds, as the harness's drop watch and the motion's attached object know it."""

    width: float  # m, the opening the fingers stopped at
    position: np.ndarray  # (3,) TCP where it was grasped
    box: tuple[np.ndarray, np.ndarray] | None = None  # the object's box: 4x4 pose in the TCP frame, sides


def held_box(seen: Sequence[Detection], tcp: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The box of the object between the closed fingers (TCP pose ``tcp``, 4x4), in the TCP frame: of the
    objects last seen, the smallest whose box (``HELD_MARGIN`` wider) takes in the fingers' centre, grown
    to take in that label's other boxes around the fingers (each camera sees part of it: the hand camera
    looking into a bowl misses its far underside); None when none does (the motion then attaches the
    gripper's own volume)."""

    def around_fingers(d: Detection) -> bool:
        local = d.rotation.T @ (tcp[:3, 3] - d.position)
        return bool(d.has_3d and np.all(d.extent > 0) and np.all(np.abs(local) <= d.extent / 2 + HELD_MARGIN))

    holding = [d for d in seen if around_fingers(d)]
    if not holding:
        return None
    found = min(holding, key=lambda d: float(np.prod(d.extent)))
    signs = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    corners = np.vstack(
        [d.position + (signs * d.extent) @ d.rotation.T for d in holding if d.label == found.label]
    )
    local = (corners - found.position) @ found.rotation
    low, high = local.min(axis=0), local.max(axis=0)
    if np.any(high - low > MAX_HELD_SIZE):
        return None
    box = np.eye(4)
    box[:3, :3], box[:3, 3] = found.rotation, found.position + found.rotation @ ((low + high) / 2)
    return np.linalg.inv(tcp) @ box, high - low


def attach(goal: MoveArm.Goal, held: Held | None) -> MoveArm.Goal:
    """``goal`` carrying the held object's box, so the motion moves it with the hand (as given, when none)."""
    if held is not None and held.box is not None:
        pose, size = held.box
        goal.held_pose = matrix_to_pose(pose)
        goal.held_size = Vector3(x=float(size[0]), y=float(size[1]), z=float(size[2]))
    return goal


def settle(
    read: Callable[[], np.ndarray],
    hold_s: float = STILL_S,
    timeout: float = SETTLE_S,
    clock: Callable[[], float | None] | None = None,
) -> np.ndarray:
    """``read()`` once it has changed by at most STILL_M for ``hold_s`` s (or when ``timeout`` s end).

    ``clock``: the time of the latest reading in the robot's clock (the state's stamp: simulated time in
    the sim), None when unknown. Stillness and the timeout then count in that time, so a simulation
    running slower than real time on a loaded machine is not judged at rest between two stale readings;
    wall time caps the wait at WALL_CAP x ``timeout`` in case that clock stops."""
    wall_start = time.monotonic()

    def now() -> float:
        stamp = clock() if clock is not None else None
        return time.monotonic() if stamp is None else stamp

    start = since = now()
    value = np.asarray(read(), dtype=float)
    while now() - since < hold_s and now() - start < timeout:
        if time.monotonic() - wall_start > WALL_CAP * timeout:
            break
        channel.check_interrupt()
        time.sleep(POLL_S)
        current = np.asarray(read(), dtype=float)
        if np.max(np.abs(current - value), initial=0.0) > STILL_M:
            value, since = current, now()
    return value


def settled_width(read: Callable[[], float], reported: float) -> float:
    """The opening once joint states (``read``) show the fingers still and agree with the action's
    ``reported`` one (a driver may answer before its joint states do); ``reported`` if they never agree."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        width = float(settle(read, timeout=deadline - time.monotonic()))
        if abs(width - reported) <= AGREE_M:
            return width
        if time.monotonic() >= deadline:
            return reported


def rounded(position: Sequence[float] | np.ndarray) -> list[float]:
    return np.round(np.asarray(position, dtype=float), 3).tolist()


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
            where = feedback.current_pose.position
            at = rounded([where.x, where.y, where.z])
            raise error(f"{text} at {at}; try another path or a higher approach")


def shortfall(
    goal: MoveArm.Goal,
    state: RobotState,
    tolerance: float = REACH_TOLERANCE,
    joint_tolerance: float = JOINT_TOLERANCE,
) -> float:
    """How far (m; rad for joint goals) ``state`` is beyond the tolerance (the arm's ``reach_tolerance``
    in m, ``joint_tolerance`` in rad) from the goal; <= 0: there."""
    if goal.mode == MoveArm.Goal.JOINTS:
        error = np.abs(state.joint_positions - np.asarray(goal.joint_positions))
        return float(np.nanmax(error, initial=0.0)) - joint_tolerance
    target = goal.waypoints[-1].pose.position
    distance = np.linalg.norm(state.position - [target.x, target.y, target.z])
    return float(distance) - tolerance


def short_message(
    goal: MoveArm.Goal,
    state: RobotState,
    joint_names: Sequence[str],
    tolerance: float = REACH_TOLERANCE,
    joint_tolerance: float = JOINT_TOLERANCE,
) -> str:
    """What to tell the model about a move that came to rest short of its goal."""
    where = rounded(state.position)
    if goal.mode == MoveArm.Goal.JOINTS:
        error = np.abs(state.joint_positions - np.asarray(goal.joint_positions))
        worst = int(np.nanargmax(error))
        return (
            f"the arm stopped short of its joint goal: {joint_names[worst]} is {error[worst]:.3f} rad from "
            f"it (tolerance {joint_tolerance} rad), with the gripper at {where}; something blocks the arm: "
            "move back and take another way"
        )
    target = goal.waypoints[-1].pose.position
    distance = (shortfall(goal, state, tolerance) + tolerance) * 100
    return (
        f"the move ended {distance:.1f} cm from its target {rounded([target.x, target.y, target.z])}: the "
        f"gripper stopped at {where} (tolerance {tolerance * 100:.1f} cm); it is blocked by contact or "
        "the target is at the edge of the reach: move back and approach another way"
    )


def lost_hold(held: Held, width: float, where: np.ndarray, gripper: GripperSpec) -> ObjectDroppedError | None:
    """The error to raise when the opening ``width`` says the held object is gone, else None."""
    now, then = f"{width * 1000:.1f} mm", f"{held.width * 1000:.1f} mm when grasped"
    if dropped(width, gripper):
        reason = f"it fell out: the fingers closed fully ({now}, {then})"
    elif width > held.width + RELEASED_M:
        reason = f"the gripper opened to {now} ({then})"
    else:
        return None
    return ObjectDroppedError(
        f"the object grasped at {rounded(held.position)} was lost during the move: {reason}; the gripper was "
        f"at {rounded(where)}. Detect it again, open the gripper and grasp it anew"
    )


def name_obstacle(message: str, detections: Sequence[object]) -> str:
    """``message`` with its "a seen object at [x, y, z]" named after the detection whose box (plus
    OBSTACLE_MARGIN) holds that point, the nearest centre first; unchanged when none does. ``detections``
    carry label, position, rotation and extent (the proxy's Detection)."""
    found = SEEN_POINT.search(message)
    if found is None:
        return message
    point = np.array([float(v) for v in found.groups()])
    best: tuple[float, str] | None = None
    for detection in detections:
        local = np.asarray(detection.rotation).T @ (point - np.asarray(detection.position))
        if np.all(np.abs(local) <= np.asarray(detection.extent) / 2 + OBSTACLE_MARGIN):
            distance = float(np.linalg.norm(local))
            if best is None or distance < best[0]:
                best = (distance, detection.label)
    if best is None:
        return message
    return (
        message[: found.start()]
        + f"the {best[1]} (seen at {found.group(0)[len('a seen object at ') :]})"
        + (message[found.end() :])
    )


def where_it_fell(lost_at: np.ndarray, detections: Sequence[object]) -> str:
    """A sentence naming the detection nearest (horizontally, within FELL_RADIUS) below the point where a
    held object was lost, for the drop's message; "" when there is none."""
    near = [
        d
        for d in detections
        if np.linalg.norm(np.asarray(d.position)[:2] - lost_at[:2]) <= FELL_RADIUS
        and d.position[2] < lost_at[2]
    ]
    if not near:
        return ""
    best = min(near, key=lambda d: float(np.linalg.norm(np.asarray(d.position)[:2] - lost_at[:2])))
    return (
        f" Now the nearest object below where it was lost is the {best.label} at {rounded(best.position)}"
        " (check that it is the one that fell)."
    )


def contact_depth(contact: bool, max_depth: float) -> float:
    """A move's depth limit (m), checked: within [0, MAX_CONTACT_DEPTH] and only with contact."""
    depth = float(max_depth)
    if not np.isfinite(depth) or not 0.0 <= depth <= MAX_CONTACT_DEPTH:
        raise InvalidArgumentError(
            f"max_depth must be in [0, {MAX_CONTACT_DEPTH}] m (0: 1 cm); got {max_depth}"
        )
    if depth > 0 and not contact:
        raise InvalidArgumentError("max_depth applies to contact moves: pass contact=True with it")
    return depth


def move_goal(
    poses: Sequence[np.ndarray], path: str, speed: float, contact: bool, max_depth: float, frame: str
) -> MoveArm.Goal:
    """A MoveArm goal through ``poses`` (4x4, in ``frame``), its arguments checked."""
    if path not in PATHS:
        raise InvalidArgumentError(f"unknown path {path!r}; valid: {', '.join(PATHS)}")
    if not 0.0 < speed <= 1.0:
        raise InvalidArgumentError(f"speed must be in (0, 1]; got {speed}")
    goal = MoveArm.Goal(
        mode=MoveArm.Goal.POSE if len(poses) == 1 else MoveArm.Goal.WAYPOINTS,
        path=PATHS[path],
        velocity_scaling=float(speed),
        contact=bool(contact),
        max_depth=contact_depth(bool(contact), max_depth),
    )
    for pose in poses:
        stamped = PoseStamped(pose=matrix_to_pose(pose))
        stamped.header.frame_id = frame
        goal.waypoints.append(stamped)
    return goal


def wrist_hint(goal: MoveArm.Goal, arm: ArmSpec | None) -> str:
    """For a refused goal pointing the gripper down with a yaw more than 45 deg from the one the arm's
    wrist reaches (its profile's ``down_yaw``, when not 0): a sentence naming the orientation to use."""
    if arm is None or arm.down_yaw == 0.0 or not goal.waypoints:
        return ""
    rotation = pose_to_matrix(goal.waypoints[-1].pose)[:3, :3]
    yaw = float(np.arctan2(rotation[1, 0], rotation[0, 0]))
    if rotation[2, 2] > -0.9 or abs(np.remainder(yaw - arm.down_yaw + np.pi, 2 * np.pi) - np.pi) <= np.pi / 4:
        return ""
    roll, pitch, down = arm.down
    return (
        f"; this arm's wrist points the gripper down with the yaw {np.degrees(down):.0f} deg: use the "
        f"orientation [{roll:.4f}, {pitch:g}, {down:.4f}] (or tilted grasps from grasping.plan)"
    )
