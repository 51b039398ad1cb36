"""The Franka tabletop cell as the module backends see it: the robot-only model plus the cell's supports."""

from __future__ import annotations

from functools import cache

import numpy as np

from maestro_agent.data.collect import camera_frame
from maestro_tools.perception.objects import CameraFrame
from maestro_tools.robots import get_robot
from maestro_tools.robots.model import RobotModel
from maestro_tools.sim.scene import CELL_SURFACES
from maestro_tools.sim.world import SimWorld

FRANKA = get_robot("franka")
HOME = np.array(FRANKA.arm.home)
GRIPPER = FRANKA.gripper
TOP_DOWN = (GRIPPER.max_width, GRIPPER.finger_depth, GRIPPER.pad_clearance)  # top_down_grasps' gripper args
ANTIPODAL = {"max_width": GRIPPER.max_width, "pad_clearance": GRIPPER.pad_clearance}


@cache
def franka_model() -> RobotModel:
    return RobotModel(FRANKA, CELL_SURFACES)


def frame(world: SimWorld, camera: str) -> CameraFrame:
    """A rendered frame of ``camera`` with the sim's ground-truth segmentation, as perception takes it."""
    return camera_frame(world, camera)
