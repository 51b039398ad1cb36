"""The navigation loop without ROS: grid + planner + follower + recoveries, one ``step`` per control tick.

``Navigator.start`` takes a goal; ``observe`` adds depth points to the grid; ``step`` takes the robot's
pose and the time and returns the command, the state (the NavigateBase feedback's) and the distance left,
or raises the typed error that ends the goal:

- UnreachableError: the goal lies in an obstacle (at once), or no path exists after every recovery;
- StalledError: the base did not move while commanded, after every recovery;
- MaestroTimeoutError: the deadline passed.

The path is replanned every ``replan_period`` s and at once when the grid puts an obstacle on the next
``check_distance`` m of it. Recoveries alternate backing up and turning in place (which shows the
cameras more of the surroundings; a back-up into what the grid knows is turned instead), then replan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from maestro_tools.common.errors import (
    InvalidArgumentError,
    MaestroError,
    MaestroTimeoutError,
    StalledError,
    UnreachableError,
)
from maestro_tools.navigation.follower import PathFollower, Pose2D, wrap
from maestro_tools.navigation.grid import Costmap, OccupancyGrid
from maestro_tools.navigation.map_obstacles import Footprint
from maestro_tools.navigation.planner import GoalInObstacleError, PathPlanner

PUSH_STEP = 0.05  # m between a push goal's waypoints (the follower looks ahead along them)
REAPPROACHES = 3  # approaches after the first; then twice the position tolerance is accepted
TURN_LOOKAHEAD, TURN_ANGLE = 0.4, math.pi / 4  # m along the path, rad: a first turn that needs room


class NavState(IntEnum):
    """Mirror of the NavigateBase feedback's state constants."""

    DRIVING = 0
    PLANNING = 1
    STALLED = 2
    BLOCKED = 3
    RECOVERING = 4


@dataclass(frozen=True)
class NavigatorConfig:
    footprint_radius: float  # m: the circle the base sweeps turning in place
    inflation_margin: float = 0.05  # m added to the inscribed radius when planning
    # m: how near an obstacle the centre may pass driving forward (a long base's half width); None = a
    # round base. Paths keep to the footprint radius where there is room (a cost), not closer than this.
    inscribed_radius: float | None = None
    replan_period: float = 1.0  # s
    check_distance: float = 1.2  # m of the path ahead checked against new obstacles every tick
    stall_time: float = 3.0  # s commanded without moving stall_distance or turning 0.15 rad
    stall_distance: float = 0.05  # m
    max_recoveries: int = 4
    backup_distance: float = 0.3  # m
    backup_speed: float = 0.15  # m/s
    recovery_turn: float = math.pi / 2  # rad
    push_speed: float = 0.15  # m/s of a push goal (straight through what is ahead: a door to open)

    def __post_init__(self) -> None:
        if self.footprint_radius <= 0 or self.replan_period <= 0 or self.stall_time <= 0:
            raise InvalidArgumentError(
                "navigator: footprint radius, replan period and stall time must be > 0"
            )
        if self.inscribed_radius is not None and not 0 < self.inscribed_radius <= self.footprint_radius:
            raise InvalidArgumentError("navigator: need 0 < inscribed_radius <= footprint_radius")

    @property
    def inscribed(self) -> float:
        return self.footprint_radius if self.inscribed_radius is None else self.inscribed_radius


@dataclass(frozen=True)
class Step:
    linear: float
    angular: float
    state: NavState
    remaining: float  # m along the path (straight line before the first plan)
    done: bool = False


@dataclass
class _Recovery:
    kind: str  # "backup" or "rotate"
    start: Pose2D
    began: float
    amount: float  # m backwards or rad to turn (signed)
    limit: float  # s


class Navigator:
    """One goal at a time; not thread-safe (the node calls it from its goal's thread)."""

    def __init__(
        self, grid: OccupancyGrid, planner: PathPlanner, follower: PathFollower, config: NavigatorConfig
    ) -> None:
        self.grid, self.planner, self.follower, self.config = grid, planner, follower, config
        self.path: np.ndarray | None = None
        self.recoveries = 0
        self._costmap: Costmap | None = None
        self._goal = Pose2D(0.0, 0.0, 0.0)
        self._target = np.zeros(2)  # where the base stops: the goal, or the free spot the planner moved it to
        self._goal_yaw: float | None = None
        self._push = False
        self._position_tolerance = self._yaw_tolerance = 0.0
        self._deadline = math.inf
        self._last = 0.0
        self._planned_at = -math.inf
        self._arrived = False
        self._reapproaches = 0
        self._recovery: _Recovery | None = None
        self._stall_ref: tuple[Pose2D, float] | None = None
        self._escaped = False  # the goal's first plan was checked for room to turn

    @property
    def inflation(self) -> float:
        """Lethal within this of an obstacle: the inscribed radius and the margin."""
        return self.config.inscribed + self.config.inflation_margin

    def costmap(self) -> Costmap:
        if self._costmap is None:
            # Costly up to the footprint radius and 0.4 m beyond: paths keep room to turn where they can.
            band = self.config.footprint_radius - self.config.inscribed + 0.4
            self._costmap = self.grid.costmap(self.inflation, cost_margin=band)
        return self._costmap

    def start(
        self,
        goal: Pose2D,
        goal_yaw: float | None,
        position_tolerance: float,
        yaw_tolerance: float,
        now: float,
        deadline: float,
        push: bool = False,
        speed_scale: float = 1.0,
    ) -> None:
        """A new goal (fixed frame); ``goal_yaw`` None = any heading; ``deadline`` in the clock of ``now``.
        ``push``: drive straight at it at ``push_speed``, through what the grid holds ahead (a door the base
        pushes open), without recoveries: a stall ends it. ``speed_scale`` (0, 1] scales the follower's
        speed and acceleration limits for this goal."""
        self._goal, self._goal_yaw, self._push = goal, goal_yaw, push
        self._target = goal.xy.copy()
        self._position_tolerance, self._yaw_tolerance = position_tolerance, yaw_tolerance
        self._deadline, self._last = deadline, now
        self.path, self.recoveries, self._recovery = None, 0, None
        self._planned_at, self._arrived, self._stall_ref = -math.inf, False, None
        self._reapproaches, self._escaped = 0, False
        self.follower.reset(speed_scale)

    def set_keep_out(self, footprints: Sequence[Footprint], pose: Pose2D) -> None:
        """Furniture footprints the grid keeps occupied; one the robot stands in is wrong and left out."""
        kept = tuple(f for f in footprints if not f.contains(pose.xy)[0])
        old = self.grid.keep_out
        if len(kept) != len(old) or any(a is not b for a, b in zip(kept, old, strict=True)):
            self.grid.set_keep_out(kept)
            self._costmap = None

    def observe(self, points: np.ndarray, sensor: np.ndarray, pose: Pose2D) -> None:
        """One depth image's fixed-frame points, seen from ``sensor``; the robot's own disc stays free."""
        self._focus(pose)
        keep_out = (pose.xy, self.config.footprint_radius)
        self.grid.integrate(points, sensor, keep_out)
        self.grid.clear_disc(pose.xy, self.config.footprint_radius * 0.8)
        self._costmap = None

    def _focus(self, pose: Pose2D) -> None:
        """The window follows the middle of the way from the robot to the goal, so that both fit."""
        middle = (pose.xy + self._goal.xy) / 2
        before = self.grid.origin.copy()
        self.grid.recenter((float(middle[0]), float(middle[1])))
        if not np.array_equal(before, self.grid.origin):
            self._costmap = None

    def position_error(self, pose: Pose2D) -> float:
        """Distance to where the base stops (the goal, unless it lies too near an obstacle)."""
        return float(np.linalg.norm(self._target - pose.xy))

    @property
    def shortfall(self) -> float:
        """How far short of the goal the base stops: the planner moved a goal closer to an obstacle than
        the footprint allows to the nearest free spot (0 for a goal in free space)."""
        return float(np.linalg.norm(self._target - self._goal.xy))

    def yaw_error(self, pose: Pose2D) -> float:
        return 0.0 if self._goal_yaw is None else abs(wrap(self._goal_yaw - pose.yaw))

    def step(self, pose: Pose2D, now: float) -> Step:
        dt = float(np.clip(now - self._last, 0.0, 0.5))
        self._last = now
        if now > self._deadline:
            raise MaestroTimeoutError(
                f"timed out {self.position_error(pose):.2f} m from the goal after "
                f"{self.recoveries} recoveries; raise the goal's timeout or choose a nearer goal"
            )
        to_goal = self.position_error(pose)
        if self._recovery is not None:
            return self._recover(pose, now, dt, to_goal)
        # Turning in place moves a skid-steer base's centre (it turns about its wheels, with slip): the
        # final turn is finished first (unless it carried the base off by more than a back-up), then a
        # base left outside the tolerance approaches again, to half of it this time.
        tolerance = self._position_tolerance
        near = tolerance * (0.5 if self._reapproaches else 1.0)
        latch = max(2 * tolerance, self.follower.config.reverse_distance)
        if to_goal <= near or (self._arrived and to_goal <= latch):
            self._arrived = True
            if self._goal_yaw is not None and self.yaw_error(pose) > self._yaw_tolerance:
                linear, angular = self.follower.turn_to(pose, self._goal_yaw, dt)
                return self._watch(pose, now, Step(linear, angular, NavState.DRIVING, to_goal))
            if to_goal <= tolerance or (self._reapproaches >= REAPPROACHES and to_goal <= 2 * tolerance):
                self.follower.last = (0.0, 0.0)
                return Step(0.0, 0.0, NavState.DRIVING, 0.0, done=True)
            self._reapproaches += 1
        self._arrived = False
        if self._push:
            if self.path is None:
                self.path = densify(np.array([pose.xy, self._goal.xy]), PUSH_STEP)[0]  # as a plan's cells
                self.follower.new_path()
            linear, angular = self.follower.drive(pose, self.path, dt, self.config.push_speed)
            remaining = self.follower.remaining(pose, self.path)
            return self._watch(pose, now, Step(linear, angular, NavState.DRIVING, remaining))
        state = NavState.DRIVING
        stale = now - self._planned_at >= self.config.replan_period
        if self.path is None or stale or self._blocked_ahead(pose):
            self._focus(pose)
            state = NavState.PLANNING if self.path is None else state
            try:
                self.path = self.planner.plan(self.costmap(), pose.xy, self._goal.xy)
                # A goal in the inflated obstacles ends its path at the nearest free spot: arrive there.
                self._target = self.path[-1].copy()
                self.follower.new_path()
                self._planned_at = now
            except GoalInObstacleError:
                raise
            except UnreachableError as exc:
                if self.path is not None and not self._blocked_ahead(pose):
                    self._planned_at = now  # the old path is still clear: keep it
                else:
                    return self._begin_recovery(pose, now, NavState.BLOCKED, exc)
        assert self.path is not None
        if not self._escaped:
            self._escaped = True
            if self._cramped(pose) and self._clear_behind(pose):  # not a recovery: none is counted
                self._recovery = self._backup(pose, now)
                return Step(0.0, 0.0, NavState.RECOVERING, to_goal)
        linear, angular = self.follower.drive(pose, self.path, dt)
        remaining = self.follower.remaining(pose, self.path)
        return self._watch(pose, now, Step(linear, angular, state, remaining))

    # -- checks -----------------------------------------------------------------------------------
    def _blocked_ahead(self, pose: Pose2D) -> bool:
        """An obstacle (closer than the inscribed radius) on the next ``check_distance`` m of the path."""
        if self.path is None:
            return False
        costmap = self.costmap()
        k = self.follower.closest(pose, self.path)
        points, along = densify(np.vstack([pose.xy, self.path[k + 1 :]]), costmap.resolution / 2)
        points = points[(along > 0.15) & (along <= self.config.check_distance)]
        if not len(points):
            return False
        cells = np.floor((points - costmap.origin) / costmap.resolution).astype(int)
        n = costmap.clearance.shape[0]
        inside = np.all((cells >= 0) & (cells < n), axis=1)
        clearance = costmap.clearance[cells[inside, 0], cells[inside, 1]]
        return bool((clearance < self.config.inscribed).any())

    def _cramped(self, pose: Pose2D) -> bool:
        """Standing closer to an obstacle than the footprint's radius (a long base's corners sweep that far
        as it turns in place) with the path's first ``TURN_LOOKAHEAD`` m turning away from the heading:
        the base backs out straight before it turns (it stood at a table to grasp, facing it)."""
        costmap = self.costmap()
        cell = costmap.cell(pose.xy)
        if not costmap.inside(cell) or costmap.clearance[cell] >= self.config.footprint_radius:
            return False
        assert self.path is not None
        points, along = densify(np.vstack([pose.xy, self.path]), costmap.resolution / 2)
        way = points[min(int(np.searchsorted(along, TURN_LOOKAHEAD)), len(points) - 1)] - pose.xy
        if np.linalg.norm(way) < 1e-6:
            return False
        return abs(wrap(math.atan2(way[1], way[0]) - pose.yaw)) > TURN_ANGLE

    def _clear_behind(self, pose: Pose2D) -> bool:
        """Nothing the grid knows of where backing up would take the base (the cameras look ahead)."""
        back = np.array([-math.cos(pose.yaw), -math.sin(pose.yaw)])
        steps = np.linspace(0.05, self.config.backup_distance, 6)
        points = pose.xy + steps[:, None] * back
        costmap = self.costmap()
        cells = np.floor((points - costmap.origin) / costmap.resolution).astype(int)
        n = costmap.clearance.shape[0]
        cells = cells[np.all((cells >= 0) & (cells < n), axis=1)]
        return bool(np.all(costmap.clearance[cells[:, 0], cells[:, 1]] >= self.config.inscribed * 0.8))

    def _watch(self, pose: Pose2D, now: float, step: Step) -> Step:
        """Stall detection: commanded, but neither moved nor turned for ``stall_time`` s."""
        ref = self._stall_ref
        if ref is None or (
            np.linalg.norm(pose.xy - ref[0].xy) > self.config.stall_distance
            or abs(wrap(pose.yaw - ref[0].yaw)) > 0.15
        ):
            self._stall_ref = (pose, now)
            return step
        if now - ref[1] > self.config.stall_time:
            error = StalledError(
                f"the base did not move for {self.config.stall_time:g} s while commanded at "
                f"({pose.x:.2f}, {pose.y:.2f}); something the cameras do not see holds it"
            )
            return self._begin_recovery(pose, now, NavState.STALLED, error)
        return step

    # -- recoveries -------------------------------------------------------------------------------
    def _begin_recovery(self, pose: Pose2D, now: float, state: NavState, cause: MaestroError) -> Step:
        c = self.config
        if self._push:
            raise StalledError(
                f"pushed for {c.stall_time:g} s at ({pose.x:.2f}, {pose.y:.2f}) without moving: "
                "what is ahead does not give"
            )
        if self.recoveries >= c.max_recoveries:
            what = "stalled" if state == NavState.STALLED else "blocked"
            raise type(cause)(f"{cause} ({what} after {self.recoveries} recoveries)")
        self.recoveries += 1
        self.follower.last = (0.0, 0.0)
        if self.recoveries % 2 == 1 and self._clear_behind(pose):
            self._recovery = self._backup(pose, now)
        else:
            side = 1.0 if (self.recoveries // 2) % 2 == 1 else -1.0
            self._recovery = _Recovery(
                "rotate", pose, now, side * c.recovery_turn, 3.0 * c.recovery_turn / 0.5
            )
        return Step(0.0, 0.0, state, self.position_error(pose))

    def _backup(self, pose: Pose2D, now: float) -> _Recovery:
        """Straight back by the back-up distance, given three times as long as it takes."""
        c = self.config
        return _Recovery("backup", pose, now, c.backup_distance, 3.0 * c.backup_distance / c.backup_speed)

    def _recover(self, pose: Pose2D, now: float, dt: float, to_goal: float) -> Step:
        recovery = self._recovery
        assert recovery is not None
        elapsed = now - recovery.began
        if recovery.kind == "backup":
            finished = np.linalg.norm(pose.xy - recovery.start.xy) >= recovery.amount
            command = self.follower.limit(-self.config.backup_speed, 0.0, dt)
        else:
            target = recovery.start.yaw + recovery.amount
            finished = abs(wrap(target - pose.yaw)) < 0.1
            command = self.follower.turn_to(pose, target, dt)
        if finished or elapsed > recovery.limit:
            self._recovery, self.path, self._stall_ref = None, None, None
            self.follower.last = (0.0, 0.0)
            return Step(0.0, 0.0, NavState.RECOVERING, to_goal)
        return Step(*command, NavState.RECOVERING, to_goal)


def densify(path: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``step`` m along a polyline (N, 2) and their distance along it."""
    segments = np.diff(path, axis=0)
    lengths = np.linalg.norm(segments, axis=1)
    starts = np.concatenate([[0.0], np.cumsum(lengths)])
    along = np.arange(0.0, starts[-1] + step / 2, step)
    index = np.clip(np.searchsorted(starts, along, side="right") - 1, 0, max(len(segments) - 1, 0))
    if not len(segments):
        return path[:1].copy(), np.zeros(1)
    t = (along - starts[index]) / np.maximum(lengths[index], 1e-9)
    return path[index] + segments[index] * np.clip(t, 0.0, 1.0)[:, None], along
