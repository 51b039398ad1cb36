"""Where go_near stands the base for the arm to reach a point: whole-body reach among the furniture the
semantic map remembers and the obstacles of the navigation's grid, with the arm re-solved from where the
base stopped (plain Python over the proxy's clients; the ``base`` tool uses it)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from maestro_agent.proxy.types import BasePose
from maestro_tools.common.errors import (
    CollisionError,
    InvalidArgumentError,
    MaestroError,
    NotFoundError,
    UnavailableError,
    UnreachableError,
)
from maestro_tools.common.surfaces import SupportSurface
from maestro_tools.navigation.messages import grid_clearance
from maestro_tools.robots.body_posture import BodyPosture
from maestro_tools.robots.profile import RobotProfile

TILT = math.radians(45.0)  # the grasp approach planned for: 45 deg from vertical, from the robot's side
FLAT_TILT = math.radians(60.0)  # and where that is out of reach with a level body (the planner's widest)
REACH_MODELS = 4  # whole-body models kept, one per set of keep-out boxes
FURNITURE_SIZE = 0.25  # m: the default keep-outs are the remembered objects at least this wide
NEAR_MARGIN = 1.0  # m beyond the arm's reach within which they count as near the target
TARGET_GAP = 0.02  # m a keep-out box under the target ends below it
# m beyond the base's inscribed radius its centre keeps from obstacles, or the navigation moves the goal
# (out of the arm's reach): its inflation margin (parameter inflation_margin) on its own grid, and a few
# cm more from the map's furniture boxes (the grid rasterizes them)
NAV_INFLATION, NAV_MARGIN = 0.05, 0.08
OPEN_SIDES = 4  # approach headings tried when the grid ranks them


@dataclass(frozen=True)
class ReachPlan:
    """A base pose (map frame) and body posture from which the arm reaches the target, and the check of
    the arm from a pose actually reached."""

    x: float
    y: float
    yaw: float
    posture: BodyPosture
    reaches: Callable[[BasePose], bool]


class BaseReach:
    """Base poses for reaching points: the robot's whole-body IK, one compiled model per set of boxes."""

    def __init__(
        self, robot: RobotProfile, frame: str, semantic_map: Any | None, grid: Callable[[], Any] | None
    ) -> None:
        self.robot, self.frame, self.map, self.grid = robot, frame, semantic_map, grid
        self._models: dict[tuple, Any] = {}  # keep-out boxes -> WholeBodyReach (it compiles the robot)

    def keep_out(
        self, point: np.ndarray, target: str | Sequence[float], avoid: Sequence[str] | None
    ) -> tuple[SupportSurface, ...]:
        """Boxes (map frame, axis-aligned around each object's box) to keep clear of: the objects
        ``avoid`` names, or (None) the furniture the semantic map remembers near ``point``. A box under
        the target is cut below it (the toy on the table: the table stays, up to under the toy)."""
        if avoid is not None and (isinstance(avoid, str) or not all(isinstance(a, str) for a in avoid)):
            raise InvalidArgumentError(f"avoid must be a list of labels, e.g. ['white table']; got {avoid!r}")
        if self.map is None:
            if avoid:
                raise UnavailableError("no semantic map on this robot to find what to avoid")
            return ()
        if avoid is None:
            try:
                objects = self.map._remembered_in(self.frame)
            except NotFoundError:
                return ()
        else:
            objects = [o for label in avoid for o in self.map._find_in(label, self.frame)]
        boxes: list[SupportSurface] = []
        for o in objects:
            if isinstance(target, str) and avoid is None and o.label == target:
                continue  # the target itself
            half = 0.5 * np.abs(o.rotation) @ o.extent
            gap = np.maximum(np.abs(point[:2] - o.position[:2]) - half[:2], 0.0)
            near = float(np.linalg.norm(gap)) <= self.robot.arm.reach + NEAR_MARGIN
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

    def model(self, keep_out: tuple[SupportSurface, ...]) -> Any:
        """The whole-body model among ``keep_out`` (kept for the next call among the same boxes)."""
        from maestro_tools.motion.whole_body import WholeBodyReach

        key = tuple((b.name, *np.round([*b.center, *b.half_size], 2)) for b in keep_out)
        reach = self._models.get(key)
        if reach is None:
            if len(self._models) >= REACH_MODELS:
                self._models.pop(next(iter(self._models)))
            base = self.robot.base
            clearance = base.inscribed + NAV_MARGIN if base is not None else 0.0
            reach = self._models[key] = WholeBodyReach(self.robot, keep_out, centre_clearance=clearance)
        return reach

    def plan(self, point: np.ndarray, here: BasePose, keep_out: tuple[SupportSurface, ...]) -> ReachPlan:
        """A base pose whose arm reaches ``point`` 45 deg from vertical, from the robot's side (whole-body
        IK), the footprint and the hand clear of the ``keep_out`` boxes and the base of the grid's
        obstacles; from the robot's side first, then from the others (a toy in the middle of a table is
        reached from its nearest edge, which need not face the robot)."""
        from maestro_tools.motion.base_geometry import BasePose as PlanPose
        from maestro_tools.motion.whole_body import ReachTarget

        reach = self.model(keep_out)
        heading = math.atan2(point[1] - here.y, point[0] - here.x)
        clearance = self.grid_clearance()
        free = None
        if clearance is not None and self.robot.base is not None:
            needed = self.robot.base.inscribed + NAV_INFLATION
            free = lambda pose: clearance(pose.x, pose.y) >= needed  # noqa: E731
        # A level body first (the grasp planner tilts its grasps from the base's z), reaching further with
        # a flatter approach before the body pitches nose down.
        level = [p for p in reach.postures if p.pitch == 0.0]
        pitched = [p for p in reach.postures if p.pitch != 0.0]
        ways = [(TILT, p) for p in level] + [(FLAT_TILT, p) for p in level] + [(TILT, p) for p in pitched]
        failures: list[MaestroError] = []
        for approach, (tilt, posture) in itertools.product(approaches(point, heading, clearance), ways):
            target = ReachTarget.tilted(tuple(point), approach, tilt)
            try:
                plan = reach.plan_base_pose(
                    target, PlanPose(here.x, here.y, here.yaw), posture=posture, base_free=free
                )
            except (UnreachableError, CollisionError) as exc:
                failures.append(exc)
                continue

            def reaches(pose: BasePose, target: Any = target, plan: Any = plan) -> bool:
                try:
                    at = PlanPose(pose.x, pose.y, pose.yaw)
                    reach.solve_arm(target, at, seed=plan.arm.q, posture=plan.posture)
                except UnreachableError:
                    return False
                return True

            return ReachPlan(plan.base.x, plan.base.y, plan.base.yaw, plan.posture, reaches)
        raise type(failures[0])(f"from every side: {failures[0]}")

    def grid_clearance(self) -> Callable[[float, float], float] | None:
        """(x, y) -> m to the nearest obstacle of the navigation's latest grid (None: no grid yet)."""
        message = self.grid() if self.grid is not None else None
        if message is None or message.header.frame_id != self.frame:
            return None
        return grid_clearance(message)


def approaches(
    point: np.ndarray, heading: float, clearance: Callable[[float, float], float] | None
) -> list[float]:
    """Approach headings (map frame) to plan ``point``'s reach with, best first. Without a grid: from the
    robot's side (``heading``), then across, then from the far side. With one: the OPEN_SIDES of 16 around
    it (and the robot's side) whose way in (the ray from the point back to where the base stands) is most
    open in the grid, nearest the robot's side among equals: a toy between a sofa's back and the wall is
    reached along the gap, not over the sofa."""
    if clearance is None:
        return [heading + side for side in (0.0, math.pi / 2, -math.pi / 2, math.pi)]
    candidates = [heading, *(k * math.pi / 8 for k in range(16))]

    def openness(approach: float) -> float:
        back = np.array([-math.cos(approach), -math.sin(approach)])  # beyond the toy's own cells
        return min(clearance(*(point[:2] + r * back)) for r in np.arange(0.25, 0.7, 0.05))

    def turn(approach: float) -> float:
        return abs(math.remainder(approach - heading, 2 * math.pi))

    return sorted(candidates, key=lambda a: (-round(openness(a), 2), turn(a)))[:OPEN_SIDES]
