"""``base``: drive the mobile base in the map, through the navigation node's ``navigate`` action
(maestro_msgs/NavigateBase), and the skills built on it: go near an object (a base pose chosen by
whole-body reachability), look around, search for a label, open a door and go through it (``door``).

Poses here are in the robot's fixed frame (``map``); the other tools keep the base frame, which moves
with the base: positions they returned before a drive are stale after it (detect again).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from builtin_interfaces.msg import Duration
from control_msgs.action import FollowJointTrajectory
from control_msgs.msg import JointTolerance
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import OccupancyGrid as GridMessage
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from maestro_agent.proxy.base_reach import BaseReach
from maestro_agent.proxy.door import DoorOpener
from maestro_agent.proxy.harness import Harness, tool
from maestro_agent.proxy.perception import Perception
from maestro_agent.proxy.registry import register_tool
from maestro_agent.proxy.robot import Robot
from maestro_agent.proxy.ros_client import RosClient, raise_for
from maestro_agent.proxy.semantic_map import SemanticMap
from maestro_agent.proxy.types import BasePose, MappedObject
from maestro_msgs.action import NavigateBase
from maestro_tools.common.conversions import pose_to_matrix
from maestro_tools.common.errors import (
    InvalidArgumentError,
    MaestroError,
    MaestroTimeoutError,
    NotFoundError,
    OutOfLimitsError,
    StalledError,
    UnavailableError,
)
from maestro_tools.navigation.goals import MIN_SPEED
from maestro_tools.robots.body_posture import HEIGHT_JOINT, PITCH_JOINT, BodyPosture

REACH_TOLERANCE = 0.07  # m: go_near's drive to a whole-body pose (the navigation's default is 0.15)
# The drive again when the arm misses from where the base stopped: to within 3 cm, only from within
# 0.2 m (a goal moved farther is the grid's doing; recoveries near furniture once tipped the base over).
CLOSER_TOLERANCE, CLOSER_TIMEOUT, CLOSER_FROM = 0.03, 20.0, 0.2
VIEWPOINTS = 6  # search's default ring of viewpoints around where it starts
SEARCH_RADIUS = 1.5  # m
MAP_WAIT = 3.0  # s for a detection to reach the semantic map (the mapper takes the detector's frames)
BODY_ACTION = "body_controller/follow_joint_trajectory"  # a legged base's body height and pitch
# rad: go_near's postures count as reached this near their pitch: the crouch (the arm re-solves from the
# measured pose) and the stand before its drive (a wheel on a toy or an edge leans the body 1-2 deg)
POSTURE_PITCH_TOLERANCE = 0.06
BODY_SPEED = (0.15, 0.4)  # m/s and rad/s of a posture change (the sim's set-point runs at most 0.2 / 0.6)


def _finite(name: str, value: object) -> float:
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgumentError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def _planar(transform: np.ndarray) -> BasePose:
    """The planar part (x, y, yaw) and the height of a 4x4 map -> base transform."""
    x, y, height = (float(v) for v in transform[:3, 3])
    return BasePose(x, y, math.atan2(transform[1, 0], transform[0, 0]), height)


def _goal(
    frame: str,
    x: float,
    y: float,
    yaw: float | None,
    tolerance: float,
    timeout: float,
    push: bool = False,
    max_speed: float = 0.0,
) -> Any:
    goal = NavigateBase.Goal(goal=PoseStamped(), position_tolerance=tolerance, timeout=timeout)
    goal.max_speed = max_speed
    goal.behavior = "push" if push else ""
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
        robot: Robot | None = None,
    ) -> None:
        self._ros, self._harness = ros, harness
        self._perception, self._map, self._robot = perception, semantic_map, robot
        self._frame, self._base = harness.robot.fixed_frame, harness.robot.base_frame
        # the grid the navigation plans on: go_near's base pose keeps to where it may stop
        grid = ros.latest(GridMessage, "navigation/grid") if ros is not None else None
        self._reacher = BaseReach(harness.robot, self._frame, semantic_map, grid)
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
        self,
        x: float,
        y: float,
        yaw: float | None = None,
        tolerance: float = 0.1,
        timeout: float = 120.0,
        push: bool = False,
        max_speed: float | None = None,
    ) -> BasePose:
        """Drive to (x, y) in the map, then turn to ``yaw`` (rad; None: any heading), within ``tolerance``
        metres; returns the pose reached. Turning in place: go_to(here.x, here.y, new_yaw). push=True:
        straight there at 0.15 m/s through what is in the way (a door to push open), StalledError when
        it does not give. ``max_speed`` (m/s, at least 0.1; None: the base's top speed): a careful drive,
        turns and accelerations slowed alike, e.g. 0.25 carrying a soft toy."""
        x, y = _finite("x", x), _finite("y", y)
        if not isinstance(push, bool):
            raise InvalidArgumentError(f"push must be True or False; got {push!r}")
        if max_speed is not None and not _finite("max_speed", max_speed) >= MIN_SPEED:
            raise InvalidArgumentError(
                f"max_speed must be at least {MIN_SPEED:g} m/s (or None); got {max_speed}"
            )
        heading = None if yaw is None else math.remainder(_finite("yaw", yaw), 2 * math.pi)
        if (
            not 0.02 <= _finite("tolerance", tolerance) <= 1.0
            or not 1.0 <= _finite("timeout", timeout) <= 600
        ):
            raise InvalidArgumentError(
                f"tolerance must be 0.02..1 m and timeout 1..600 s; got {tolerance}, {timeout}"
            )
        speed = 0.0 if max_speed is None else float(max_speed)
        goal = _goal(self._frame, x, y, heading, float(tolerance), float(timeout), push, speed)
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
        self._set_posture(BodyPosture(_finite("height", height), _finite("pitch", pitch)))

    def _set_posture(self, wanted: BodyPosture, pitch_tolerance: float = 0.0) -> None:
        """set_body's action goal; ``pitch_tolerance`` > 0 replaces the controller's default for the pitch."""
        if not self._body:
            raise UnavailableError(f"the {self._harness.robot.name} cannot lower or pitch its body")
        posture = wanted.check(self._harness.robot.base)
        seconds = max(1.0, abs(posture.height) / BODY_SPEED[0] + abs(posture.pitch) / BODY_SPEED[1])
        point = JointTrajectoryPoint(
            positions=[posture.height, posture.pitch],
            time_from_start=Duration(sec=int(seconds), nanosec=int(seconds % 1 * 1e9)),
        )
        goal = FollowJointTrajectory.Goal(
            trajectory=JointTrajectory(joint_names=[HEIGHT_JOINT, PITCH_JOINT], points=[point])
        )
        if pitch_tolerance > 0:
            goal.goal_tolerance = [JointTolerance(name=PITCH_JOINT, position=pitch_tolerance)]
        result = self._ros.act(self._body_action, goal, seconds + 10.0)
        if result.error_code != FollowJointTrajectory.Result.SUCCESSFUL:
            invalid = result.error_code in (
                FollowJointTrajectory.Result.INVALID_GOAL,
                FollowJointTrajectory.Result.INVALID_JOINTS,
            )
            raise (OutOfLimitsError if invalid else StalledError)(
                result.error_string or "the body did not move"
            )

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
        posture, plan = BodyPosture(), None
        if standoff is None:
            plan = self._reacher.plan(point, here, self._reacher.keep_out(point, target, avoid))
            x, y, yaw, posture = plan.x, plan.y, plan.yaw, plan.posture
        else:
            distance = _finite("standoff", standoff)
            if not 0.2 <= distance <= 5.0:
                raise InvalidArgumentError(
                    f"standoff must be 0.2..5 m (or None for arm's reach); got {standoff}"
                )
            yaw = math.atan2(point[1] - here.y, point[0] - here.x)
            x, y = point[0] - distance * math.cos(yaw), point[1] - distance * math.sin(yaw)
        if self._body:
            self._set_posture(BodyPosture(), POSTURE_PITCH_TOLERANCE)  # drive standing
        tolerance = 0.1 if plan is None else REACH_TOLERANCE
        try:
            reached = self.go_to(x, y, yaw, tolerance=tolerance, timeout=timeout)
        except MaestroTimeoutError:  # still turning or edging in beside furniture: near, and the arm judges
            reached = self.get_pose()
            if plan is None or math.hypot(reached.x - x, reached.y - y) > CLOSER_FROM:
                raise
        off = math.hypot(reached.x - x, reached.y - y)
        if plan is not None and off <= CLOSER_FROM and not plan.reaches(reached):  # the arm re-solved there
            with contextlib.suppress(MaestroError):  # as near as the base gets: pick says what is left
                reached = self.go_to(x, y, yaw, tolerance=CLOSER_TOLERANCE, timeout=CLOSER_TIMEOUT)
        if posture != BodyPosture():  # a wheel against a wall may tilt it a little: the arm re-solves from it
            self._set_posture(posture, POSTURE_PITCH_TOLERANCE)
        return reached

    def _look(self, labels: Sequence[str] | None, turns: int, until: str = "") -> MappedObject | None:
        """Turn through ``turns`` headings detecting ``labels``; with ``until``, stop at the heading where
        the map has it, detect everything there too (what go_near keeps clear of) and return it."""
        if self._perception is None:
            raise UnavailableError("no cameras on this robot to look with")
        here = self.get_pose()
        for k in range(turns):
            if k:
                self.go_to(here.x, here.y, here.yaw + 2 * math.pi * k / turns, tolerance=0.3)
            try:  # every detection also updates the semantic map
                self._perception.detect(list(labels) if labels else None)
            except NotFoundError:
                continue
            if until:
                with contextlib.suppress(NotFoundError):
                    self._perception.detect(None)
                found = self._mapped(until)
                if found is not None:
                    return found
        return None

    def _mapped(self, label: str, wait: float = MAP_WAIT) -> MappedObject | None:
        """The map's ``label`` (map frame), waiting up to ``wait`` s for a detection just made to reach it."""
        deadline = time.monotonic() + wait
        while True:
            with contextlib.suppress(NotFoundError):
                return self._map._find_in(label, self._frame)[0]
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.2)

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
        """Look for ``label`` until the semantic map has it: turning in place here first, then at each
        viewpoint [x, y] in the map (None: a ring 1.5 m around the start); where it is seen, everything in
        view is mapped too. Returns it (map frame). Viewpoints that cannot be reached are skipped.
        NotFoundError says where it looked."""
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
            found = self._look([label], VIEWPOINTS, until=label) or self._mapped(label, wait=0.0)
            if found is not None:
                return found
        where = f"{len(stops) - len(skipped)} places" + (
            f"; unreachable: {', '.join(skipped)}" if skipped else ""
        )
        raise NotFoundError(
            f"{label!r} was not seen from {where}; try other viewpoints (another room, behind furniture)"
        )

    @tool("base")
    def open_door(self, door: str = "door", handle: str = "door handle", through: float = 1.0) -> BasePose:
        """Open a hinged door that opens away from the robot by its lever handle, and drive ``through``
        metres past it: the head camera finds the door and handle (face them first), the base stands at
        the door, the hand grips the lever and presses it down, the base pushes the door ajar with the
        handle held, the hand lets go and the base lines up with the doorway and pushes through. Returns
        the pose reached; StalledError when the door does not give (locked, or it opens towards you)."""
        if self._perception is None or self._robot is None:
            raise UnavailableError(f"the {self._harness.robot.name} has no arm or camera to open a door with")
        if not 0.3 <= _finite("through", through) <= 3.0:
            raise InvalidArgumentError(f"through must be 0.3..3 m past the door; got {through}")
        return DoorOpener(self, self._robot, self._perception).open(door, handle, float(through))


def _build(ros: RosClient | None, harness: Harness, built: dict[str, object]) -> Base:
    perception, semantic_map, robot = built.get("perception"), built.get("semantic_map"), built.get("robot")
    return Base(
        ros,
        harness,
        perception if isinstance(perception, Perception) else None,
        semantic_map if isinstance(semantic_map, SemanticMap) else None,
        robot if isinstance(robot, Robot) else None,
    )


register_tool("base", ("base",), _build, group="S0")
