"""Planar base geometry for whole-body planning: base poses in the map, a footprint rectangle's overlap with
keep-out boxes, the extent of a model's geoms (to derive a base's standing height and footprint), and the
planning model itself (planar base joints, the body's posture joints, the floor, keep-out boxes)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from maestro_tools.common.surfaces import SupportSurface
from maestro_tools.robots.profile import RobotProfile

GEOM = mujoco.mjtGeom


@dataclass(frozen=True)
class BasePose:
    """A planar base pose in the map: position (m) and heading (rad)."""

    x: float
    y: float
    yaw: float

    @classmethod
    def from_matrix(cls, transform: np.ndarray) -> BasePose:
        """The planar part of a 4x4 map -> base transform."""
        t = np.asarray(transform, dtype=np.float64)
        return cls(float(t[0, 3]), float(t[1, 3]), math.atan2(t[1, 0], t[0, 0]))

    def to_base(self, point: np.ndarray) -> np.ndarray:
        """A map point's (x, y) in this base's frame."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        dx, dy = point[0] - self.x, point[1] - self.y
        return np.array([c * dx + s * dy, -s * dx + c * dy])


def footprint_overlaps(pose: BasePose, footprint: np.ndarray, box: SupportSurface, margin: float) -> bool:
    """Whether the base's footprint rectangle (xmin, xmax, ymin, ymax in the base frame), grown by
    ``margin``, overlaps ``box``'s (x, y) rectangle (separating axes)."""
    c, s = math.cos(pose.yaw), math.sin(pose.yaw)
    lo, hi = footprint[[0, 2]] - margin, footprint[[1, 3]] + margin
    corners = np.array([[x, y] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])])
    world = corners @ np.array([[c, s], [-s, c]]) + [pose.x, pose.y]
    bc, bh = np.asarray(box.center[:2]), np.asarray(box.half_size[:2])
    if np.any(world.max(axis=0) < bc - bh) or np.any(world.min(axis=0) > bc + bh):
        return False
    box_corners = np.array([[bc[0] + i * bh[0], bc[1] + j * bh[1]] for i in (-1, 1) for j in (-1, 1)])
    local = np.array([pose.to_base(p) for p in box_corners])
    return not (np.any(local.max(axis=0) < lo) or np.any(local.min(axis=0) > hi))


def centre_gap(pose: BasePose, box: SupportSurface) -> float:
    """m from the base's centre to ``box``'s (x, y) rectangle (0 inside it)."""
    gap = np.abs([pose.x - box.center[0], pose.y - box.center[1]]) - np.asarray(box.half_size[:2])
    return float(np.linalg.norm(np.maximum(gap, 0.0)))


def subtree(model: mujoco.MjModel, root: int) -> list[int]:
    return [b for b in range(model.nbody) if b == root or _ancestor(model, root, b)]


def _ancestor(model: mujoco.MjModel, root: int, body: int) -> bool:
    while body > 0:
        body = int(model.body_parentid[body])
        if body == root:
            return True
    return False


def collision_geoms(model: mujoco.MjModel, bodies: Sequence[int]) -> list[int]:
    return [g for g in range(model.ngeom) if model.geom_bodyid[g] in bodies and model.geom_contype[g]]


def extent(model: mujoco.MjModel, data: mujoco.MjData, geoms: Sequence[int]) -> np.ndarray:
    """(min xyz, max xyz) of the geoms, world frame: exact for spheres, capsules, cylinders and boxes,
    their bounding box otherwise."""
    low, high = np.full(3, np.inf), np.full(3, -np.inf)
    for g in geoms:
        rot, size = data.geom_xmat[g].reshape(3, 3), model.geom_size[g]
        axis = np.abs(rot[:, 2])  # |world component| of the geom's z axis, per world axis
        kind = model.geom_type[g]
        if kind == GEOM.mjGEOM_SPHERE:
            reach = np.full(3, size[0])
        elif kind == GEOM.mjGEOM_CAPSULE:
            reach = axis * size[1] + size[0]
        elif kind == GEOM.mjGEOM_CYLINDER:
            reach = axis * size[1] + size[0] * np.sqrt(np.clip(1.0 - axis**2, 0.0, 1.0))
        else:
            half = size if kind == GEOM.mjGEOM_BOX else model.geom_aabb[g, 3:]
            reach = np.abs(rot) @ half
        center = (
            data.geom_xpos[g]
            if kind != GEOM.mjGEOM_MESH
            else data.geom_xpos[g] + rot @ model.geom_aabb[g, :3]
        )
        low, high = np.minimum(low, center - reach), np.maximum(high, center + reach)
    return np.array([low, high])


# -- the planning model ------------------------------------------------------------------------------------
BASE_JOINTS = ("planar_x", "planar_y", "planar_yaw")
BODY_JOINTS = ("body_height", "body_pitch")  # the body's posture (frozen in IK): slide z, pitch about y
FOOTPRINT, FLOOR, KEEP_OUT = "planning/footprint", "planning/floor", "keep_out/"


def posture_qpos(model: mujoco.MjModel, profile: RobotProfile) -> np.ndarray:
    """qpos0 with the base's posture joints at the stand and the fingers open."""
    q = model.qpos0.copy()
    for joint, value in profile.base.posture if profile.base else ():
        q[model.jnt_qposadr[model.joint(joint).id]] = value
    gripper = profile.gripper
    for joint in gripper.mjcf_finger_joints if gripper else ():
        q[model.jnt_qposadr[model.joint(joint).id]] = gripper.max_width / len(gripper.mjcf_finger_joints)
    return q


def planning_spec(
    profile: RobotProfile, keep_out: Sequence[SupportSurface]
) -> tuple[mujoco.MjSpec, float, np.ndarray]:
    """The planning MJCF (the robot, visual meshes dropped, its floating base replaced by planar joints and
    the body's posture joints, the floor, the keep-out boxes), the base's standing height and its
    footprint (xmin, xmax, ymin, ymax)."""
    spec = profile.build_mjcf()
    for geom in [g for g in spec.geoms if g.type == GEOM.mjGEOM_MESH]:
        spec.delete(geom)
    for mesh in list(spec.meshes):
        spec.delete(mesh)
    base = next(b for b in spec.bodies if profile.ros_names(b.name) == profile.base_frame)
    for joint in list(base.joints):
        spec.delete(joint)
    slide, hinge = mujoco.mjtJoint.mjJNT_SLIDE, mujoco.mjtJoint.mjJNT_HINGE
    # MuJoCo applies a body's joints in turn, each in the frame the previous ones left: x, y, yaw, then
    # the height (still vertical) and the pitch about the yawed y axis, both about base_link's origin.
    for name, kind, axis in zip(
        (*BASE_JOINTS, *BODY_JOINTS),
        (slide, slide, hinge, slide, hinge),
        ((1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0, 1), (0, 1, 0)),
        strict=True,
    ):
        base.add_joint(name=name, type=kind, axis=list(axis))
    for geom in spec.geoms:  # every collision geom may meet every other in the solver's explicit pairs
        if geom.contype or geom.conaffinity:
            geom.contype = geom.conaffinity = 1
    # Stand height and footprint from the posture with the base at the origin.
    model = spec.compile()
    data = mujoco.MjData(model)
    data.qpos[:] = posture_qpos(model, profile)
    mujoco.mj_kinematics(model, data)
    arm = profile.arm
    arm_root = int(model.joint(arm.mjcf_joints[0]).bodyid[0]) if arm else -1
    chassis = [b for b in range(1, model.nbody) if b not in subtree(model, arm_root)]
    low, high = extent(model, data, collision_geoms(model, chassis))
    height = -float(low[2])
    base.pos = [0.0, 0.0, height]
    footprint = np.array([low[0], high[0], low[1], high[1]])
    half = (high - low) / 2
    base.add_geom(
        name=FOOTPRINT, type=GEOM.mjGEOM_BOX, size=list(half),
        pos=list((high + low) / 2), contype=1, conaffinity=1, group=5,
    )  # fmt: skip
    spec.worldbody.add_geom(name=FLOOR, type=GEOM.mjGEOM_PLANE, size=[0, 0, 1])
    # The boxes ride on a (frozen) jointed body: mink skips pairs between a body and its weld parent,
    # and the base's parent is the world.
    holder = spec.worldbody.add_body(name="planning/keep_out")
    holder.add_joint(name="planning/keep_out", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[0, 0, 1])
    holder.add_geom(type=GEOM.mjGEOM_SPHERE, size=[0.01, 0, 0], contype=0, conaffinity=0, mass=1)
    for box in keep_out:
        holder.add_geom(
            name=f"{KEEP_OUT}{box.name}", type=GEOM.mjGEOM_BOX, pos=list(box.center),
            size=list(box.half_size), contype=1, conaffinity=1,
        )  # fmt: skip
    return spec, height, footprint
