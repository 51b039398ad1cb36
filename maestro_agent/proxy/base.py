"""``base``: drive the mobile base in the map, through the navigation node's ``navigate`` action
(maestro_msgs/NavigateBase), and the skills built on it: go near an object (a base pose chosen by
whole-body reachability), look around, search for a label.

Poses here are in the robot's fixed frame (``map``); the other tools keep the base frame, which moves
with the base: positions they returned before a drive are stale after it (detect again).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration
from control_msgs.action import FollowJointTrajectory
from geometry_msgs.msg import PoseStamped
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from maestro_agent.proxy.harness import Harness, tool
from maestro_agent.proxy.perception import Perception
from maestro_agent.proxy.registry import register_tool
from maestro_agent.proxy.ros_client import RosClient, raise_for
from maestro_agent.proxy.semantic_map import SemanticMap
from maestro_agent.proxy.types import BasePose, MappedObject
from maestro_msgs.action import NavigateBase
from maestro_tools.common.conversions import pose_to_matrix
from maestro_tools.common.errors import (
    CollisionError,
    InvalidArgumentError,
    MaestroError,
    NotFoundError,
    OutOfLimitsError,
    StalledError,
    UnavailableError,
    UnreachableError,
)
from maestro_tools.common.surfaces import SupportSurface
from maestro_tools.robots.body_posture import HEIGHT_JOINT, PITCH_JOINT, BodyPosture

TILT = math.radians(45.0)  # go_near's grasp approach: 45 deg from vertical, from the robot's side
REACH_MODELS = 4  # whole-body models kept, one per set of keep-out boxes
FURNITURE_SIZE = 0.25  # m: go_near's default keep-outs are the remembered objects at least this wide
NEAR_MARGIN = 1.0  # m beyond the arm's reach within which they count as near the target
TARGET_GAP = 0.02  # m a keep-out box under the target ends below it
VIEWPOINTS = 6  # search's default ring of viewpoints around where it starts
SEARCH_RADIUS = 1.5  # m
BODY_ACTION = "body_controller/follow_joint_trajectory"  # a legged base's body height and pitch
BODY_SPEED = (0.15, 0.4)  # m/s and rad/s of a posture change (the sim's set-point runs at most 0.2 / 0.6)


def _finite(name: str, value: object) -> float:
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgumentError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def _planar(transform: np.ndarray) -> BasePose:
    """The planar part (x, y, yaw) and the height of a 4x4 map -> base transform."""
    x, y, height = (float(v) for v in transform[:3, 3])
    return BasePose(x, y, math.atan2(transform[1, 0], transform[0, 0]), height)


def _goal(frame: str, x: float, y: float, yaw: float | None, tolerance: float, timeout: float) -> Any:
    goal = NavigateBase.Goal(goal=PoseStamped(), position_tolerance=tolerance, timeout=timeout)
    goal.goal.header.frame_id = frame
    goal.goal.pose.position.x, goal.goal.pose.position.y = x, y
    heading = 0.0 if yaw is None else yaw
    goal.goal.pose.orientation.w, goal.goal.pose.orientation.z = math.cos(heading / 2), math.sin(heading / 2)
    goal.yaw_tolerance = -1.0 if yaw is None else 0.0  # -1: any heading
    return goal


class Base:
    """The mobile base, in the map frame (x forward at the start, z up). Drives avoid the obstacles the
    cameras see; a blocked or timed-out drive raises (StalledError, UnreachableError, TimeoutError)
    saying where the base stopped."""

    module = "base"

    def __init__(
        self,
        ros: RosClient | None,
        harness: Harness,
        perception: Perception | None = None,
        semantic_map: SemanticMap | None = None,
    ) -> None:
        self._ros, self._harness = ros, harness
        self._perception, self._map = perception, semantic_map
        self._frame, self._base = harness.robot.fixed_frame, harness.robot.base_frame
        self._reach: dict[tuple, Any] = {}  # keep-out boxes -> WholeBodyReach (it compiles the robot)
        base = harness.robot.base
        self._body = base is not None and (base.min_height_offset < 0 or base.max_pitch > 0)
        if ros is not None:
            self._navigate = ros.action(NavigateBase, "navigate")
            if self._body:
                self._body_action = ros.action(FollowJointTrajectory, BODY_ACTION)

    @tool("base")
    def get_pose(self) -> BasePose:
        """Where the base is now: BasePose(x, y, yaw, height) in the map (the floor at z = -height in the
        base frame)."""
        return _planar(self._ros.transform(self._frame, self._base))

    @tool("base")
    def go_to(
        self, x: float, y: float, yaw: float | None = None, tolerance: float = 0.1, timeout: float = 120.0
    ) -> BasePose:
        """Drive to (x, y) in the map, then turn to ``yaw`` (rad; None: any heading), within ``tolerance``
        metres; returns the pose reached. Turning in place: go_to(here.x, here.y, new_yaw)."""
        x, y = _finite("x", x), _finite("y", y)
        heading = None if yaw is None else math.remainder(_finite("yaw", yaw), 2 * math.pi)
        if (
            not 0.02 <= _finite("tolerance", tolerance) <= 1.0
            or not 1.0 <= _finite("timeout", timeout) <= 600
        ):
            raise InvalidArgumentError(
                f"tolerance must be 0.02..1 m and timeout 1..600 s; got {tolerance}, {timeout}"
            )
        goal = _goal(self._frame, x, y, heading, float(tolerance), float(timeout))
        result = raise_for(self._ros.act(self._navigate, goal, float(timeout) + 10.0))
        return _planar(pose_to_matrix(result.final_pose))

    def _where(self, target: str | Sequence[float]) -> np.ndarray:
        """A label's remembered position (the semantic map, map frame) or a point [x, y, z] in the map."""
        if isinstance(target, str):
            if self._map is None:
                raise UnavailableError("no semantic map on this robot: give a point [x, y, z] in the map")
            found = self._map._find_in(target, self._frame)
            return np.asarray(found[0].position, dtype=float)
        try:
            point = np.asarray(target, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            point = np.zeros(0)
        if point.shape not in ((2,), (3,)) or not np.isfinite(point).all():
            raise InvalidArgumentError(
                f"target must be a label or a point [x, y(, z)] in the map; got {target!r}"
            )
        return np.append(point, 0.0) if point.shape == (2,) else point

    @tool("base")
    def set_body(self, height: float = 0.0, pitch: float = 0.0) -> None:
        """Lower the body ``height`` m below its stand (<= 0) and pitch it ``pitch`` rad nose down (legged
        bases; the wheels stay put): how the arm reaches the floor. set_body() stands up again."""
        if not self._body:
            raise UnavailableError(f"the {self._harness.robot.name} cannot lower or pitch its body")
        posture = BodyPosture(_finite("height", height), _finite("pitch", pitch)).check(
            self._harness.robot.base
        )
        seconds = max(1.0, abs(posture.height) / BODY_SPEED[0] + abs(posture.pitch) / BODY_SPEED[1])
        point = JointTrajectoryPoint(
            positions=[posture.height, posture.pitch],
            time_from_start=Duration(sec=int(seconds), nanosec=int(seconds % 1 * 1e9)),
        )
        goal = FollowJointTrajectory.Goal(
            trajectory=JointTrajectory(joint_names=[HEIGHT_JOINT, PITCH_JOINT], points=[point])
        )
        result = self._ros.act(self._body_action, goal, seconds + 10.0)
        if result.error_code != FollowJointTrajectory.Result.SUCCESSFUL:
            invalid = result.error_code in (
                FollowJointTrajectory.Result.INVALID_GOAL,
                FollowJointTrajectory.Result.INVALID_JOINTS,
            )
            raise (OutOfLimitsError if invalid else StalledError)(
                result.error_string or "the body did not move"
            )

    def _reach_pose(
        self, point: np.ndarray, here: BasePose, keep_out: tuple[SupportSurface, ...]
    ) -> tuple[float, float, float, BodyPosture]:
        """A base pose whose arm reaches ``point`` 45 deg from vertical, from the robot's side (whole-body
        IK), the footprint and the hand clear of the ``keep_out`` boxes (map frame)."""
        from maestro_tools.motion.base_geometry import BasePose as PlanPose
        from maestro_tools.motion.whole_body import ReachTarget, WholeBodyReach

        key = tuple((b.name, *np.round([*b.center, *b.half_size], 2)) for b in keep_out)
        reach = self._reach.get(key)
        if reach is None:  # compiles the robot with the boxes: kept for the next call among the same ones
            if len(self._reach) >= REACH_MODELS:
                self._reach.pop(next(iter(self._reach)))
            reach = self._reach[key] = WholeBodyReach(self._harness.robot, keep_out)
        # From the robot's side first, then from the others (a toy in the middle of a table is reached
        # from its nearest edge, which need not face the robot).
        heading = math.atan2(point[1] - here.y, point[0] - here.x)
        failures: list[MaestroError] = []
        for side in (0.0, math.pi / 2, -math.pi / 2, math.pi):
            target = ReachTarget.tilted(tuple(point), heading + side, TILT)
            try:
                plan = reach.plan_base_pose(target, PlanPose(here.x, here.y, here.yaw))
            except (UnreachableError, CollisionError) as exc:
                failures.append(exc)
                continue
            return plan.base.x, plan.base.y, plan.base.yaw, plan.posture
        raise type(failures[0])(f"from every side: {failures[0]}")

    def _keep_out(
        self, point: np.ndarray, target: str | Sequence[float], avoid: Sequence[str] | None
    ) -> tuple[SupportSurface, ...]:
        """Boxes (map frame, axis-aligned around each object's box) for go_near to keep clear of: the
        objects ``avoid`` names, or (None) the furniture the semantic map remembers near ``point``. A box
        under the target is cut below it (the toy on the table: the table stays, up to under the toy)."""
        if avoid is not None and (isinstance(avoid, str) or not all(isinstance(a, str) for a in avoid)):
            raise InvalidArgumentError(f"avoid must be a list of labels, e.g. ['white table']; got {avoid!r}")
        if self._map is None:
            if avoid:
                raise UnavailableError("no semantic map on this robot to find what to avoid")
            return ()
        if avoid is None:
            try:
                objects = self._map._remembered_in(self._frame)
            except NotFoundError:
                return ()
        else:
            objects = [o for label in avoid for o in self._map._find_in(label, self._frame)]
        boxes = []
        for o in objects:
            if isinstance(target, str) and avoid is None and o.label == target:
                continue  # the target itself
            half = 0.5 * np.abs(o.rotation) @ o.extent
            gap = np.maximum(np.abs(point[:2] - o.position[:2]) - half[:2], 0.0)
            near = float(np.linalg.norm(gap)) <= self._harness.robot.arm.reach + NEAR_MARGIN
            if avoid is None and (max(half[:2]) * 2 < FURNITURE_SIZE or not near):
                continue
            low, high = o.position - half, o.position + half
            if np.all(gap == 0.0) and high[2] > point[2] - TARGET_GAP:
                high[2] = point[2] - TARGET_GAP  # under the target: its top ends below it
                if high[2] - low[2] < 0.02:
                    continue
            seen = sum(b.name.split(" #")[0] == o.label for b in boxes)  # one table seen as two parts
            name = o.label if not seen else f"{o.label} #{seen + 1}"
            boxes.append(SupportSurface(name, tuple((low + high) / 2), tuple((high - low) / 2)))
        return tuple(boxes)

    @tool("base")
    def go_near(
        self,
        target: str | Sequence[float],
        standoff: float | None = None,
        timeout: float = 120.0,
        avoid: Sequence[str] | None = None,
    ) -> BasePose:
        """Drive near ``target`` (a label the semantic map knows, or a point [x, y, z] in the map) and face
        it. standoff None: where the arm reaches it (whole-body reachability, 45 deg approach from the
        robot's side, else from another), lowering
        the body after the drive when the target is low (a legged base: set_body), the base and the hand
        clear of ``avoid`` (labels the map knows, e.g. ['white table']; None: the furniture it remembers
        near the target); else that many metres from it. Detect the object again after the drive before
        grasping it."""
        point, here = self._where(target), self.get_pose()
        posture = BodyPosture()
        if standoff is None:
            x, y, yaw, posture = self._reach_pose(point, here, self._keep_out(point, target, avoid))
        else:
            distance = _finite("standoff", standoff)
            if not 0.2 <= distance <= 5.0:
                raise InvalidArgumentError(
                    f"standoff must be 0.2..5 m (or None for arm's reach); got {standoff}"
                )
            yaw = math.atan2(point[1] - here.y, point[0] - here.x)
            x, y = point[0] - distance * math.cos(yaw), point[1] - distance * math.sin(yaw)
        if self._body:
            self.set_body()  # drive standing
        reached = self.go_to(x, y, yaw, timeout=timeout)
        if posture != BodyPosture():
            self.set_body(posture.height, posture.pitch)
        return reached

    def _look(self, labels: Sequence[str] | None, turns: int) -> None:
        if self._perception is None:
            raise UnavailableError("no cameras on this robot to look with")
        here = self.get_pose()
        for k in range(turns):
            if k:
                self.go_to(here.x, here.y, here.yaw + 2 * math.pi * k / turns, tolerance=0.3)
            with contextlib.suppress(NotFoundError):  # every detection also updates the semantic map
                self._perception.detect(list(labels) if labels else None)

    @tool("base")
    def look_around(self, labels: Sequence[str] | None = None, turns: int = 6) -> list[MappedObject]:
        """Turn in place in ``turns`` steps, detecting ``labels`` (None: every object) at each heading;
        returns what the semantic map then remembers of them (base frame, at the final heading)."""
        if not isinstance(turns, int) or not 1 <= turns <= 12:
            raise InvalidArgumentError(f"turns must be an integer 1..12; got {turns!r}")
        self._look(labels, turns)
        if self._map is None:
            return []
        if not labels:
            return self._map._remembered()
        found: list[MappedObject] = []
        for label in labels:
            try:
                found += self._map.find(label)
            except NotFoundError:
                continue
        return found

    @tool("base")
    def search(self, label: str, viewpoints: Sequence[Sequence[float]] | None = None) -> MappedObject:
        """Look for ``label`` until the semantic map has it: here first, then from each viewpoint [x, y]
        in the map (None: a ring 1.5 m around the start); returns it (map frame). Viewpoints that cannot
        be reached are skipped. NotFoundError says where it looked."""
        if self._map is None:
            raise UnavailableError("search needs the semantic map; this robot has none")
        here = self.get_pose()
        if viewpoints is None:
            angles = here.yaw + np.linspace(0.0, 2 * math.pi, VIEWPOINTS, endpoint=False)
            viewpoints = [
                (here.x + SEARCH_RADIUS * math.cos(a), here.y + SEARCH_RADIUS * math.sin(a)) for a in angles
            ]
        stops: list[tuple[float, float] | None] = [
            None,
            *[(_finite("x", v[0]), _finite("y", v[1])) for v in viewpoints],
        ]
        skipped: list[str] = []
        for stop in stops:
            if stop is not None:
                try:
                    self.go_to(*stop, timeout=90.0)
                except MaestroError as exc:
                    skipped.append(f"({stop[0]:.1f}, {stop[1]:.1f}): {type(exc).__name__}")
                    continue
            self._look([label], VIEWPOINTS)
            try:
                return self._map._find_in(label, self._frame)[0]
            except NotFoundError:
                continue
        where = f"{len(stops) - len(skipped)} places" + (
            f"; unreachable: {', '.join(skipped)}" if skipped else ""
        )
        raise NotFoundError(
            f"{label!r} was not seen from {where}; try other viewpoints (another room, behind furniture)"
        )


def _build(ros: RosClient | None, harness: Harness, built: dict[str, object]) -> Base:
    perception, semantic_map = built.get("perception"), built.get("semantic_map")
    return Base(
        ros,
        harness,
        perception if isinstance(perception, Perception) else None,
        semantic_map if isinstance(semantic_map, SemanticMap) else None,
    )


register_tool("base", ("base",), _build)
