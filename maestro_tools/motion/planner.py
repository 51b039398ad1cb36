"""Collision-free joint-space paths with OMPL (RRTConnect), MuJoCo as the collision checker.

The checker uses the motion model (the Panda on its table): a configuration is invalid when a robot
geom penetrates the table or a non-adjacent robot link. Task objects are not in this model, so the
planner avoids the table and the arm itself, not the objects on the table.
"""

from __future__ import annotations

import mujoco
import numpy as np
from ompl import base as ob
from ompl import geometric as og
from ompl import util as ou

from maestro_tools.common.errors import CollisionError, UnreachableError
from maestro_tools.sim.scene import ARM_JOINTS


class JointSpacePlanner:
    def __init__(self, model: mujoco.MjModel, resolution: float = 0.002) -> None:
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
        self.resolution = resolution

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
        return False

    def plan(self, start: np.ndarray, goal: np.ndarray, timeout: float = 2.0) -> list[np.ndarray]:
        """Joint waypoints from ``start`` to ``goal`` avoiding collisions (simplified, start excluded)."""
        if self.in_collision(goal):
            raise CollisionError("the goal configuration collides with the table or the arm itself")
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
