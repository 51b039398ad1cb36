"""The arm's surface samples (motion's collision check against the seen scene): primitive collision
geoms (the PiPER's are all boxes, cylinders and capsules) are sampled like meshes, and only the arm's
own bodies (not a mobile base's body and legs) count."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from maestro_tools.motion.obstacles import ArmSurface, _primitive_samples
from maestro_tools.robots.franka import FRANKA
from maestro_tools.robots.go2w_piper import GO2W_PIPER
from maestro_tools.robots.model import RobotModel

G = mujoco.mjtGeom


def _surface_distance(kind: int, size: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Unsigned distance of points ``p`` to the primitive's surface (exact signed-distance formulas)."""
    if kind == G.mjGEOM_SPHERE:
        return np.abs(np.linalg.norm(p, axis=1) - size[0])
    if kind == G.mjGEOM_CAPSULE:
        axis = np.column_stack([np.zeros(len(p)), np.zeros(len(p)), np.clip(p[:, 2], -size[1], size[1])])
        return np.abs(np.linalg.norm(p - axis, axis=1) - size[0])
    if kind == G.mjGEOM_CYLINDER:
        d = np.column_stack([np.hypot(p[:, 0], p[:, 1]) - size[0], np.abs(p[:, 2]) - size[1]])
        return np.abs(np.minimum(d.max(axis=1), 0) + np.linalg.norm(np.maximum(d, 0), axis=1))
    q = np.abs(p) - size[:3]
    return np.abs(np.minimum(q.max(axis=1), 0) + np.linalg.norm(np.maximum(q, 0), axis=1))


@pytest.mark.parametrize(
    ("kind", "size"),
    [
        (G.mjGEOM_SPHERE, [0.047, 0, 0]),
        (G.mjGEOM_CAPSULE, [0.03, 0.143, 0]),
        (G.mjGEOM_CYLINDER, [0.038, 0.035, 0]),
        (G.mjGEOM_BOX, [0.012, 0.005, 0.03]),
    ],
)
def test_primitive_samples_lie_on_and_cover_the_surface(kind: int, size: list[float]) -> None:
    spacing, size_array = 0.01, np.array(size, dtype=np.float64)
    samples = _primitive_samples(kind, size_array, spacing)
    assert np.all(_surface_distance(kind, size_array, samples) < 1e-9)
    # Random points pushed onto the surface (a dense sampling of it) all have a sample nearby.
    dense = _primitive_samples(kind, size_array, spacing / 8)
    nearest = np.min(np.linalg.norm(dense[:, None, :] - samples[None, :, :], axis=2), axis=1)
    assert nearest.max() < spacing, nearest.max()


def test_an_unsupported_geom_type_names_the_supported_ones() -> None:
    with pytest.raises(Exception, match="boxes, spheres, cylinders or capsules"):
        _primitive_samples(G.mjGEOM_ELLIPSOID, np.array([0.1, 0.1, 0.1]), 0.01)


def test_the_piper_arm_is_sampled_from_its_mount_to_its_fingers_and_not_the_base() -> None:
    arm = ArmSurface(RobotModel(GO2W_PIPER))
    names = {name.removeprefix("the robot's ") for name in arm.names}
    links = {f"piper_link{k}" for k in range(1, 9)}
    assert names == {"piper_base_link", "piper_gripper_base", *links}, names
    fingers = [k for k, name in enumerate(arm.names) if name.endswith(("link7", "link8"))]
    assert fingers and all(arm.contact[k] for k in fingers)  # the fingers may touch on purpose
    assert all(len(s) >= 8 for s in arm.samples)


def test_the_franka_keeps_every_link_from_its_base() -> None:
    names = {name.removeprefix("the robot's ") for name in ArmSurface(RobotModel(FRANKA)).names}
    assert {"panda_link0", "panda_hand", "panda_leftfinger", "panda_rightfinger"} <= names
    assert {f"panda_link{k}" for k in range(1, 8)} <= names


def test_a_seen_piper_link_is_filtered_out_of_the_scene_and_a_wall_is_not() -> None:
    """What a camera sees of the arm itself is not an obstacle; a wall 10 cm from it is."""
    robot = RobotModel(GO2W_PIPER)
    arm = ArmSurface(robot)
    data = mujoco.MjData(robot.model)
    data.qpos[:] = robot.rest_qpos
    data.qpos[robot.qpos_index] = [0.0, 1.2, -1.0, 0.0, 0.6, 0.0]
    mujoco.mj_kinematics(robot.model, data)
    link = robot.model.body("piper_link3").id
    rng = np.random.default_rng(1)
    on_link = data.xpos[link] + rng.normal(scale=0.01, size=(50, 3))
    tcp = data.site_xpos[robot.model.site(GO2W_PIPER.arm.tcp_site).id]
    wall = np.array([[tcp[0] + 0.1, y, z] for y in np.linspace(-0.2, 0.2, 9) for z in np.linspace(0, 0.3, 7)])
    cloud, _ = arm.prepare(np.vstack([on_link, wall]), data, None, held=None)
    assert len(cloud) and np.all(cloud[:, 0] > tcp[0] + 0.05), "a point of the arm itself survived"
    assert math.isclose(len(cloud), len(np.unique(np.floor(wall / 0.01), axis=0)), rel_tol=0.2)
