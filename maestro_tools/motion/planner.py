"""Collision-free joint-space paths with OMPL (RRTConnect), MuJoCo as the collision checker.

The checker uses the robot's model with its declared support surfaces: a configuration is invalid when
a robot geom penetrates a support or a non-adjacent robot link, or, once ``use_scene`` has been given an
observed cloud, when the arm (and what it holds) comes within the clearance of the scene's points.
With ``set_contact(depth)`` (contact on purpose) the hand and fingers may touch the supports and the
seen objects up to ``depth`` (see ``motion.obstacles``).

``use_scene`` takes the cloud seen at the motion's real start (the arm's own points and what it holds
are found there); ``allow_target`` then frees each segment's target surroundings.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import mujoco
import numpy as np
from ompl import base as ob
from ompl import geometric as og
from ompl import util as ou

from maestro_tools.common.errors import CollisionError, UnreachableError
from maestro_tools.motion.obstacles import ArmSurface, HeldVolume, SceneObstacles
from maestro_tools.robots.model import RobotModel

WALL_FACTOR = 4.0  # a plan's wall-time limit, in multiples of its CPU-time budget
ESCAPE_RADII = (0.02, 0.05, 0.1)  # rad: joint offsets tried, growing, for a start in collision
ESCAPE_TRIES = 40  # random offsets per radius


class JointSpacePlanner:
    def __init__(self, robot: RobotModel, resolution: float = 0.002, clearance: float = 0.015) -> None:
        ou.setLogLevel(ou.LogLevel.LOG_WARN)  # OMPL prints every planning step at INFO
        self.robot = robot
        model = robot.model
        self.model, self.data = model, mujoco.MjData(model)
        self.data.qpos[:] = robot.rest_qpos
        self.qpos_index = robot.qpos_index
        self.dof = len(self.qpos_index)
        self.robot_bodies = robot.robot_bodies
        self.space = ob.RealVectorStateSpace(self.dof)
        bounds = ob.RealVectorBounds(self.dof)
        for i in range(self.dof):
            bounds.setLow(i, float(robot.lower[i]))
            bounds.setHigh(i, float(robot.upper[i]))
        self.space.setBounds(bounds)
        self.resolution, self.clearance = resolution, clearance  # clearance: metres from scene points
        self.arm = ArmSurface(robot)
        self.finger_qpos = robot.finger_qpos
        self.set_gripper(robot.max_width)
        self.obstacles = SceneObstacles(np.zeros((0, 3)))
        self.contact_depth: float | None = None  # m: contact on purpose, None: keep clear of everything
        self.contact_bodies = {model.body(n).id for n in robot.arm.fine_bodies}
        self._scene = (np.zeros((0, 3)), np.zeros((0, 3)), None)  # points, visible, viewpoint

    def set_contact(self, depth: float | None) -> None:
        """Allow the hand and fingers to touch up to ``depth`` m deep (None: no contact)."""
        self.contact_depth = None if depth is None else float(depth)
        self.obstacles.contact_depth = self.contact_depth

    def set_gripper(self, width: float) -> None:
        """Finger opening (m) of the configurations checked from now on (the fingers keep it while moving)."""
        self.robot.set_fingers(self.data.qpos, width)

    def _data_at(self, q: np.ndarray) -> mujoco.MjData:
        data = mujoco.MjData(self.model)
        data.qpos[:] = self.robot.rest_qpos
        data.qpos[self.finger_qpos] = self.data.qpos[self.finger_qpos]
        data.qpos[self.qpos_index] = q
        mujoco.mj_kinematics(self.model, data)
        return data

    def use_scene(
        self,
        cloud: np.ndarray | None,
        start: np.ndarray,
        goal: np.ndarray | None = None,
        held: HeldVolume | None = None,
        viewpoint: np.ndarray | None = None,
        others: Sequence[tuple[np.ndarray, np.ndarray | None]] = (),
    ) -> int:
        """Plan around ``cloud`` (base-frame points off the supports; None: the robot and supports only)
        and the ``others`` (cloud, viewpoint) of further cameras, for a motion from ``start`` to ``goal``;
        return how many points count as obstacles."""
        if cloud is None and others:
            cloud, viewpoint, others = others[0][0], others[0][1], others[1:]
        if cloud is None:
            empty = np.zeros((0, 3))
            self.arm.held, self._scene = empty, (empty, empty, None)
        else:
            points, visible = self.arm.prepare(
                cloud, self._data_at(start), None, held, viewpoint, self.robot.surfaces, others
            )
            self._scene = (points, visible, viewpoint)
        return self.allow_target(goal)

    def allow_target(self, goal: np.ndarray | None) -> int:
        """Obstacles for a segment to ``goal`` (its gripper volume freed); how many points count."""
        points, visible, viewpoint = self._scene
        if goal is not None and len(points):
            data = self._data_at(goal)
            points, visible = self.arm.outside_target(data, points), self.arm.outside_target(data, visible)
        self.obstacles = SceneObstacles(points, self.clearance, visible, viewpoint, self.contact_depth)
        return len(points)

    def in_collision(self, q: np.ndarray) -> bool:
        return self.collision(q) is not None

    def collision(self, q: np.ndarray) -> str | None:
        """What configuration ``q`` collides with, in words, or None when it is free."""
        self.data.qpos[self.qpos_index] = q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_collision(self.model, self.data)
        for contact in self.data.contact[: self.data.ncon]:
            first, second = self.model.geom_bodyid[contact.geom1], self.model.geom_bodyid[contact.geom2]
            robot = (first in self.robot_bodies, second in self.robot_bodies)
            if robot[0] != robot[1] and contact.dist < 0:
                support, link = (contact.geom2, contact.geom1) if robot[0] else (contact.geom1, contact.geom2)
                where = np.round(contact.pos, 3).tolist()
                if self.contact_depth is None or self.model.geom_bodyid[link] not in self.contact_bodies:
                    return (
                        f"{self.robot.geom_owner(link)} would hit {self.robot.geom_owner(support)} at {where}"
                    )
                if -contact.dist > self.contact_depth:
                    return (
                        f"{self.robot.geom_owner(link)} would press {-contact.dist * 100:.1f} cm into "
                        f"{self.robot.geom_owner(support)} at {where} (contact depth limit "
                        f"{self.contact_depth * 100:.1f} cm)"
                    )
            if all(robot) and contact.dist < -1e-3 and abs(int(first) - int(second)) > 1:
                return (
                    f"the arm would hit itself ({self.robot.geom_owner(contact.geom1)} and "
                    f"{self.robot.geom_owner(contact.geom2)})"
                )
        hit = self.obstacles.first_hit(self.arm, self.data)
        return None if hit is None else hit.describe(self.clearance, self.contact_depth)

    def first_collision(self, path: list[np.ndarray]) -> int | None:
        """Index of the first configuration of ``path`` in collision, or None."""
        return next((k for k, q in enumerate(path) if self.in_collision(q)), None)

    def free_near(self, start: np.ndarray) -> np.ndarray:
        """The nearest free configuration found around ``start``, which collides (MoveIt's fix-start-state
        adapter): random joint offsets within growing radii; UnreachableError naming the collision when
        none within the largest is free. The move out to it is the one step not checked."""
        rng = np.random.default_rng(0)  # the same escape for the same start
        lower, upper = self.robot.lower[: self.dof], self.robot.upper[: self.dof]
        for radius in ESCAPE_RADII:
            tries = np.clip(start + rng.uniform(-radius, radius, (ESCAPE_TRIES, self.dof)), lower, upper)
            free = [q for q in tries if not self.in_collision(q)]
            if free:
                return min(free, key=lambda q: float(np.max(np.abs(q - start))))
        raise UnreachableError(
            f"the arm starts in collision ({self.collision(start)}) and no configuration within "
            f"{ESCAPE_RADII[-1]} rad of each joint is free; move it out of contact first (a short line up "
            "or back)"
        )

    def plan(self, start: np.ndarray, goal: np.ndarray, timeout: float = 2.0) -> list[np.ndarray]:
        """Joint waypoints from ``start`` to ``goal`` avoiding collisions (simplified, start excluded; a
        start in collision first steps out to the nearest free configuration, see ``free_near``).
        ``timeout``: seconds of this thread's CPU time, so that a loaded machine gets the same search (and
        at most ``WALL_FACTOR`` times as long in wall time)."""
        cause = self.collision(goal)
        if cause is not None:
            raise CollisionError(f"the goal configuration collides: {cause}")
        escape: list[np.ndarray] = []
        if self.in_collision(start):  # wedged (fingers on a wall, the seen object's filled-in back): get out
            escape = [self.free_near(start)]
            start = escape[0]
        setup = og.SimpleSetup(self.space)
        setup.setStateValidityChecker(
            lambda state: not self.in_collision(np.array([state[i] for i in range(self.dof)]))
        )
        setup.getSpaceInformation().setStateValidityCheckingResolution(self.resolution)
        # A measured start a hair past a joint limit (a joint resting on its stop) is one OMPL refuses
        # ("invalid bounds"): both ends are taken inside the limits.
        lower, upper = self.robot.lower[: self.dof], self.robot.upper[: self.dof]
        start, goal = np.clip(start, lower, upper), np.clip(goal, lower, upper)
        start_state, goal_state = self.space.allocState(), self.space.allocState()
        for i in range(self.dof):
            start_state[i], goal_state[i] = float(start[i]), float(goal[i])
        setup.setStartAndGoalStates(start_state, goal_state)
        setup.setPlanner(og.RRTConnect(setup.getSpaceInformation()))
        cpu_end, wall_end = time.thread_time() + timeout, time.monotonic() + WALL_FACTOR * timeout
        spent = ob.PlannerTerminationCondition(
            lambda: time.thread_time() >= cpu_end or time.monotonic() >= wall_end
        )
        clipped = 0
        while setup.solve(spent) and setup.haveExactSolutionPath():
            setup.simplifySolution(0.5)
            path = setup.getSolutionPath()
            path.interpolate(max(2, int(np.ceil(path.length() / 0.05))))
            states = [
                np.array([path.getState(k)[i] for i in range(self.dof)]) for k in range(path.getStateCount())
            ]
            # OMPL checks each edge at discrete steps; a waypoint placed between two of them may still clip
            # a thin obstacle: such a path is searched again while the budget lasts.
            if self.first_collision(states) is None:
                return escape + states[1:]
            clipped += 1
            setup.clear()
        more = f" ({clipped} found clipped an obstacle between the planner's checks)" if clipped else ""
        raise UnreachableError(f"no collision-free path found within {timeout} s of planning{more}")
