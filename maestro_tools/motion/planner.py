"""Collision-free joint-space paths with OMPL (RRTConnect), MuJoCo as the collision checker.

The checker uses the motion model (the Panda on its table): a configuration is invalid when a robot
geom penetrates the table or a non-adjacent robot link, or, once ``use_scene`` has been given an
observed cloud, when the arm (and what it holds) comes within the clearance of the scene's points.
"""

from __future__ import annotations

import mujoco
import numpy as np
from ompl import base as ob
from ompl import geometric as og
from ompl import util as ou

from maestro_tools.common.errors import CollisionError, UnreachableError
from maestro_tools.motion.obstacles import ArmSurface, SceneObstacles
from maestro_tools.sim.scene import ARM_JOINTS, FINGER_JOINTS, GRIPPER_MAX_WIDTH


class JointSpacePlanner:
    def __init__(self, model: mujoco.MjModel, resolution: float = 0.002, clearance: float = 0.015) -> None:
        ou.setLogLevel(ou.LogLevel.LOG_WARN)  # OMPL prints every planning step at INFO
        self.model, self.data = model, mujoco.MjData(model)
        joints = [model.joint(n).id for n in ARM_JOINTS]
        self.qpos_index = model.jnt_qposadr[joints]
        self.robot_bodies = {b for b in range(model.nbody) if model.body(b).name.startswith("panda/")}
        self.space = ob.RealVectorStateSpace(7)
        bounds = ob.RealVectorBounds(7)
        for i, joint in enumerate(joints):
            bounds.setLow(i, float(model.jnt_range[joint, 0]))
            bounds.setHigh(i, float(model.jnt_range[joint, 1]))
        self.space.setBounds(bounds)
        self.resolution, self.clearance = resolution, clearance  # clearance: metres from scene points
        self.arm = ArmSurface(model, "panda/TCP")
        fingers = [model.joint(n).id for n in FINGER_JOINTS]
        self.finger_qpos = model.jnt_qposadr[fingers]
        self.set_gripper(GRIPPER_MAX_WIDTH)
        self.obstacles = SceneObstacles(np.zeros((0, 3)))

    def set_gripper(self, width: float) -> None:
        """Finger opening (m) of the configurations checked from now on (the fingers keep it while moving)."""
        self.data.qpos[self.finger_qpos] = np.clip(width, 0.0, GRIPPER_MAX_WIDTH) / 2

    def _data_at(self, q: np.ndarray) -> mujoco.MjData:
        data = mujoco.MjData(self.model)
        data.qpos[self.finger_qpos] = self.data.qpos[self.finger_qpos]
        data.qpos[self.qpos_index] = q
        mujoco.mj_kinematics(self.model, data)
        return data

    def use_scene(
        self,
        cloud: np.ndarray | None,
        start: np.ndarray,
        goal: np.ndarray | None = None,
        holding: bool = False,
        viewpoint: np.ndarray | None = None,
    ) -> int:
        """Plan around ``cloud`` (base-frame points without the table; None: the robot and table only)
        for a motion from ``start`` to ``goal``; return how many points count as obstacles."""
        if cloud is None:
            self.obstacles, self.arm.held = SceneObstacles(np.zeros((0, 3))), np.zeros((0, 3))
            return 0
        goal_data = None if goal is None else self._data_at(goal)
        points = self.arm.prepare(cloud, self._data_at(start), goal_data, holding, viewpoint)
        self.obstacles = SceneObstacles(points, self.clearance)
        return len(points)

    def in_collision(self, q: np.ndarray) -> bool:
        self.data.qpos[self.qpos_index] = q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_collision(self.model, self.data)
        for contact in self.data.contact[: self.data.ncon]:
            first, second = self.model.geom_bodyid[contact.geom1], self.model.geom_bodyid[contact.geom2]
            robot = (first in self.robot_bodies, second in self.robot_bodies)
            if robot[0] != robot[1] and contact.dist < 0:
                return True  # the arm in the table
            if all(robot) and contact.dist < -1e-3 and abs(int(first) - int(second)) > 1:
                return True  # non-adjacent links of the arm
        return self.obstacles.collides(self.arm, self.data)

    def first_collision(self, path: list[np.ndarray]) -> int | None:
        """Index of the first configuration of ``path`` in collision, or None."""
        return next((k for k, q in enumerate(path) if self.in_collision(q)), None)

    def plan(self, start: np.ndarray, goal: np.ndarray, timeout: float = 2.0) -> list[np.ndarray]:
        """Joint waypoints from ``start`` to ``goal`` avoiding collisions (simplified, start excluded)."""
        if self.in_collision(goal):
            raise CollisionError(
                "the goal configuration collides with the table, the arm itself or the objects seen near it"
            )
        setup = og.SimpleSetup(self.space)
        setup.setStateValidityChecker(
            lambda state: not self.in_collision(np.array([state[i] for i in range(7)]))
        )
        setup.getSpaceInformation().setStateValidityCheckingResolution(self.resolution)
        start_state, goal_state = self.space.allocState(), self.space.allocState()
        for i in range(7):
            start_state[i], goal_state[i] = float(start[i]), float(goal[i])
        setup.setStartAndGoalStates(start_state, goal_state)
        setup.setPlanner(og.RRTConnect(setup.getSpaceInformation()))
        if not setup.solve(timeout) or not setup.haveExactSolutionPath():
            raise UnreachableError(f"no collision-free path found within {timeout} s")
        setup.simplifySolution(0.5)
        path = setup.getSolutionPath()
        path.interpolate(max(2, int(np.ceil(path.length() / 0.05))))
        states = [np.array([path.getState(k)[i] for i in range(7)]) for k in range(path.getStateCount())]
        return states[1:]
