"""The motion node's floor from TF (``motion.floor``): the fixed frame's z = 0 placed in base_link for a
crouched, pitched Go2-W body; the collision checker then keeps the arm off the real floor (which the
stand's floor, declared in base_link, would miss), the wheels and legs never meet it, and scene points
on it are dropped."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from maestro_tools.motion.floor import TfFloor
from maestro_tools.motion.kinematics import ArmKinematics
from maestro_tools.motion.planner import JointSpacePlanner
from maestro_tools.robots.go2w_piper import GO2W_PIPER
from maestro_tools.robots.model import RobotModel

STAND_HEIGHT = 0.44  # m, base_link above the floor in the stand


def _base(height: float, pitch: float, yaw: float = 0.6) -> np.ndarray:
    """base_link in the map: at (1, 2), ``height`` up, yawed, pitched nose down."""
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    pose = np.eye(4)
    pose[:3, :3] = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]]) @ np.array(
        [[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]]
    )
    pose[:3, 3] = [1.0, 2.0, height]
    return pose


@pytest.fixture(scope="module")
def robot() -> tuple[RobotModel, TfFloor]:
    floor = TfFloor()
    model = RobotModel(GO2W_PIPER, [floor.surface])
    floor.attach(model)
    return model, floor


def test_the_floor_follows_the_body_and_only_the_arm_meets_it(robot) -> None:
    model, floor = robot
    assert model.surfaces == () and len(model.support_geoms) == 1
    crouched = _base(STAND_HEIGHT - 0.18, 0.3)
    floor.place(model.model, crouched)
    data = mujoco.MjData(model.model)
    data.qpos[:] = model.rest_qpos
    mujoco.mj_kinematics(model.model, data)
    g = floor.geom
    normal = data.geom_xmat[g].reshape(3, 3)[:, 2]
    top = data.geom_xpos[g] + normal * floor.surface.half_size[2]
    np.testing.assert_allclose(normal, crouched[:3, :3].T @ [0, 0, 1], atol=1e-9)  # up in the map
    assert (crouched @ [*top, 1.0])[2] == pytest.approx(0.0, abs=1e-9)  # the top is the map's z = 0
    # Wheels and legs (fixed at the stand in this model, through the crouched floor) never collide with it.
    planner = JointSpacePlanner(model)
    assert planner.collision(model.home) is None


def test_an_arm_pose_clear_standing_hits_the_floor_crouched(robot) -> None:
    model, floor = robot
    kinematics, planner = ArmKinematics(model), JointSpacePlanner(model)
    target = np.eye(4)
    target[:3, :3] = np.diag([-1.0, 1.0, -1.0])  # pointing down, the TCP x axis back (the wrist likes it)
    target[:3, 3] = [0.45, 0.0, -0.2]  # 0.24 m above the floor standing
    floor.place(model.model, _base(STAND_HEIGHT, 0.0))
    q = kinematics.solve(target, model.home).q
    assert planner.collision(q) is None
    floor.place(model.model, _base(STAND_HEIGHT - 0.18, 0.3))  # the floor 0.13 m below base_link there
    hit = planner.collision(q)
    assert hit is not None and "floor" in hit, hit


def test_scene_points_on_the_floor_are_dropped(robot) -> None:
    _, floor = robot
    base = _base(STAND_HEIGHT - 0.1, 0.2)
    in_map = np.array([[1.5, 2.0, 0.0], [1.5, 2.2, 0.001], [1.4, 2.0, 0.04], [1.3, 1.9, 0.3]])
    in_base = (in_map - base[:3, 3]) @ base[:3, :3]  # map -> base_link
    kept = floor.drop(in_base, base)
    np.testing.assert_allclose(kept, in_base[2:], atol=1e-9)
    # No TF at the image's stamp: the last placement, or every point before there is one.
    fresh = type(floor)()
    np.testing.assert_allclose(fresh.drop(in_base, None), in_base, atol=1e-9)
    fresh.base_in_fixed = base
    np.testing.assert_allclose(fresh.drop(in_base, None), in_base[2:], atol=1e-9)
