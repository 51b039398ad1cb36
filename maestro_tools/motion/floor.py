"""The floor of a mobile robot, from TF: the plane z = 0 of the fixed frame (``map``), placed in the base
frame at planning time.

A support surface is a box fixed in the base frame, right for a Franka's table but wrong for a legged base
that lowers or pitches its body (the floor then rises and tilts in base_link). The motion node (parameter
``floor_from_tf``) adds this floor to the planning model as a support geom that only the arm meets (so IK
and the collision checker keep the arm off it) and moves that geom to where TF puts the floor before each
plan; scene points below the floor plane (plus the support clearance) are dropped as the floor. Plain
Python: the caller does the TF lookup.
"""

from __future__ import annotations

import mujoco
import numpy as np

from maestro_tools.common.errors import NoDataError
from maestro_tools.common.surfaces import SupportSurface
from maestro_tools.motion.base_geometry import subtree
from maestro_tools.perception.cloud import SUPPORT_CLEARANCE
from maestro_tools.robots.model import SUPPORT_PREFIX, RobotModel

FLOOR = "floor"
HALF_SIZE = (3.0, 3.0, 0.05)  # m: a 6 x 6 m slab under the robot, its top the floor


class TfFloor:
    """One floor slab in a ``RobotModel``, placed from the fixed frame -> base frame transform."""

    def __init__(self, half_size: tuple[float, float, float] = HALF_SIZE) -> None:
        # Declared far below until TF places it: the model needs a geom to move.
        self.surface = SupportSurface(FLOOR, (0.0, 0.0, -100.0), half_size)
        self.geom = -1
        self.base_in_fixed: np.ndarray | None = None  # 4x4, the latest placement
        self._scratch: tuple[mujoco.MjModel, mujoco.MjData] | None = None

    def attach(self, robot: RobotModel) -> None:
        """Take the floor's geom in ``robot`` (built with ``self.surface``) and remove it from the surfaces
        that are boxes fixed in the base frame (target checks, cloud filtering): this module does those."""
        model = robot.model
        self.geom = model.geom(f"{SUPPORT_PREFIX}{FLOOR}").id
        robot.surfaces = tuple(s for s in robot.surfaces if s is not self.surface)
        # The arm's collision bits only: the wheels stand on the floor (and the legs, fixed in the
        # planning model, may be where a crouch is not), so the rest of the robot never meets it.
        arm = subtree(model, int(model.joint(robot.arm.mjcf_joints[0]).bodyid[0]))
        bits = np.bitwise_or.reduce(model.geom_contype[np.isin(model.geom_bodyid, arm)])
        model.geom_contype[self.geom], model.geom_conaffinity[self.geom] = 0, int(bits)

    def place(self, model: mujoco.MjModel, base_in_fixed: np.ndarray | None) -> None:
        """Move the slab to the fixed frame's z = 0 under the base, in the base frame (``base_in_fixed``:
        the base's 4x4 pose in the fixed frame; None: keep the last one, NoDataError if there is none)."""
        if base_in_fixed is not None:
            self.base_in_fixed = np.asarray(base_in_fixed, dtype=np.float64)
        if self.base_in_fixed is None:
            raise NoDataError("the floor comes from TF and no transform to the base has been heard yet")
        pose = self.base_in_fixed
        center = np.array([pose[0, 3], pose[1, 3], -self.surface.half_size[2]])  # under the base
        rotation = pose[:3, :3].T  # fixed -> base
        model.geom_pos[self.geom] = rotation @ (center - pose[:3, 3])
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, rotation.reshape(-1))
        model.geom_quat[self.geom] = quat
        # MuJoCo 4 caches the world's (static) geom frames in the model; mj_setConst refreshes them.
        if self._scratch is None or self._scratch[0] is not model:
            self._scratch = (model, mujoco.MjData(model))
        mujoco.mj_setConst(model, self._scratch[1])

    def drop(self, points: np.ndarray, base_in_fixed: np.ndarray | None) -> np.ndarray:
        """Base-frame ``points`` without those on or under the floor (``base_in_fixed`` None, TF having
        none at the image's stamp: the last placement; every point while there is none)."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        pose = self.base_in_fixed if base_in_fixed is None else np.asarray(base_in_fixed, dtype=np.float64)
        if pose is None:
            return points
        heights = points @ pose[2, :3] + pose[2, 3]
        return points[heights >= SUPPORT_CLEARANCE]
