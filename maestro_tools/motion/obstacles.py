"""Collision checks of the arm against an observed point cloud (the objects around it).

The arm is a set of points sampled every ``spacing`` metres on the surfaces of its collision geoms
(meshes and primitives, from the arm's mount down to its fingers; the hand and fingers, which come
closest to objects, every ``fine_spacing``); a configuration collides when any of them lies within
``clearance`` of a scene point. A bounding sphere per geom, tested first, keeps configurations far from
the scene cheap.

Before planning, the cloud is cleaned for the current configuration and the target:
- the arm's own surface (what the camera sees of the robot) is removed;
- one camera sees the near side of objects only: the space up to 8 cm behind each point, along the
  camera's ray, is filled in (so a path around an object does not cut through its unseen back);
- what the closed gripper holds (its volume, or the held object's box the client gives) is attached to
  the hand: it moves with it and must not hit anything;
- the target's surroundings (the gripper's volume at the goal, with room above) are allowed: that is
  where a grasp or a placement is meant to reach into. The grasp planner checks those finer.

Contact on purpose (``contact_depth`` set): the hand, the fingers and what they hold may touch the scene;
a contact part is refused only when it reaches more than ``contact_depth`` behind the seen surface
(along the camera's ray through the nearest seen point) or into the filled-in space behind it. What the
gripper holds may touch without a depth check: its underside is not seen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np
from scipy.spatial import cKDTree

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.common.surfaces import SupportSurface
from maestro_tools.perception.cloud import with_hidden_side
from maestro_tools.robots.model import RobotModel

VOXEL = 0.01  # m: the scene cloud keeps one point per cube of this size
SELF_FILTER = 0.05  # m: scene points this close to the arm's (convex) collision surface are the arm
# Gripper volume in the TCP frame (z = approach): held objects at the start, allowed at the goal.
HELD_BOX = (np.array([-0.05, -0.05, -0.03]), np.array([0.05, 0.05, 0.08]))
TARGET_BOX = (np.array([-0.06, -0.09, -0.06]), np.array([0.06, 0.09, 0.12]))
FILL_MARGIN = 0.025  # m around the held volume kept free of filled-in (unseen) space: the clearance, a voxel
SURFACE_RADIUS = 0.015  # m: a contact point this close to a seen point is judged against that point's surface


@dataclass(frozen=True)
class Hit:
    """Where a configuration meets the scene: the seen point, which part of the robot, and how."""

    point: list[float]  # base frame, rounded to mm
    part: str  # "the robot's panda_hand", "what the gripper holds"
    depth: float = 0.0  # m behind the seen surface (contact mode), 0 for a clearance violation

    def describe(self, clearance: float, limit: float | None) -> str:
        if self.depth > 0 and limit is not None:
            return (
                f"{self.part} would press {self.depth * 100:.1f} cm into a seen object at {self.point} "
                f"(contact depth limit {limit * 100:.1f} cm)"
            )
        return f"{self.part} would come within {clearance * 100:.1f} cm of a seen object at {self.point}"


def _voxel_unique(points: np.ndarray, spacing: float) -> np.ndarray:
    """One point per ``spacing`` cube (cells packed into one integer key: fast for 300k points)."""
    if len(points) == 0:
        return points
    cells = np.floor(points / spacing).astype(np.int64)
    cells -= cells.min(axis=0)
    span = cells.max(axis=0) + 1
    keys = (cells[:, 0] * span[1] + cells[:, 1]) * span[2] + cells[:, 2]
    _, keep = np.unique(keys, return_index=True)
    return points[np.sort(keep)]


def _surface_samples(
    model: mujoco.MjModel, geom: int, spacing: float, rng: np.random.Generator
) -> np.ndarray:
    """Points on a geom's surface, in the geom frame: a mesh's triangles (area-weighted) and vertices, or
    a primitive's faces (box, sphere, cylinder, capsule)."""
    kind = model.geom_type[geom]
    if kind != mujoco.mjtGeom.mjGEOM_MESH:
        return _voxel_unique(_primitive_samples(kind, model.geom_size[geom], spacing), spacing)
    mesh = model.geom_dataid[geom]
    vertices = model.mesh_vert[model.mesh_vertadr[mesh] : model.mesh_vertadr[mesh] + model.mesh_vertnum[mesh]]
    faces = model.mesh_face[model.mesh_faceadr[mesh] : model.mesh_faceadr[mesh] + model.mesh_facenum[mesh]]
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    areas = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    count = max(50, int(8 * areas.sum() / spacing**2))
    chosen = rng.choice(len(faces), count, p=areas / areas.sum())
    u, v = rng.random((2, count))
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    samples = a[chosen] + u[:, None] * (b - a)[chosen] + v[:, None] * (c - a)[chosen]
    return _voxel_unique(np.vstack([samples, vertices]).astype(np.float64), spacing)


def _sphere_points(radius: float, spacing: float, upper_only: bool = False) -> np.ndarray:
    """About one point per ``spacing`` square of a sphere (a Fibonacci lattice); ``upper_only``: z >= 0."""
    count = max(8, int(math.ceil(4 * math.pi * radius**2 / spacing**2)))
    k = np.arange(count) + 0.5
    z = 1 - 2 * k / count
    angle = math.pi * (1 + math.sqrt(5)) * k
    ring = np.sqrt(1 - z**2)
    points = radius * np.column_stack([ring * np.cos(angle), ring * np.sin(angle), z])
    return points[points[:, 2] >= 0] if upper_only else points


def _cylinder_side(radius: float, half: float, spacing: float) -> np.ndarray:
    around = max(8, int(math.ceil(2 * math.pi * radius / spacing)))
    angles = np.linspace(0, 2 * math.pi, around, endpoint=False)
    heights = np.linspace(-half, half, max(2, int(math.ceil(2 * half / spacing)) + 1))
    a, h = np.meshgrid(angles, heights)
    return np.column_stack([radius * np.cos(a).ravel(), radius * np.sin(a).ravel(), h.ravel()])


def _primitive_samples(kind: int, size: np.ndarray, spacing: float) -> np.ndarray:
    """A primitive geom's surface on a ``spacing`` grid, in its frame (MuJoCo's size conventions)."""
    if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
        return _sphere_points(float(size[0]), spacing)
    if kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
        radius, half = float(size[0]), float(size[1])
        cap = _sphere_points(radius, spacing, upper_only=True)
        ends = [cap + [0.0, 0.0, half], cap * [1.0, 1.0, -1.0] - [0.0, 0.0, half]]
        return np.vstack([_cylinder_side(radius, half, spacing), *ends])
    if kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
        radius, half = float(size[0]), float(size[1])
        grid = np.arange(-radius, radius + 1e-9, spacing)
        x, y = (v.ravel() for v in np.meshgrid(grid, grid))
        inside = x**2 + y**2 <= radius**2
        disc = np.column_stack([x[inside], y[inside], np.zeros(inside.sum())])
        caps = [disc + [0.0, 0.0, half], disc - [0.0, 0.0, half]]
        return np.vstack([_cylinder_side(radius, half, spacing), *caps])
    if kind == mujoco.mjtGeom.mjGEOM_BOX:
        half = np.asarray(size[:3], dtype=np.float64)
        faces = []
        for axis in range(3):
            u, v = (a for a in range(3) if a != axis)
            uu, vv = np.meshgrid(
                *(
                    np.linspace(-half[a], half[a], max(2, int(math.ceil(2 * half[a] / spacing)) + 1))
                    for a in (u, v)
                )
            )
            for sign in (-1.0, 1.0):
                face = np.zeros((uu.size, 3))
                face[:, u], face[:, v], face[:, axis] = uu.ravel(), vv.ravel(), sign * half[axis]
                faces.append(face)
        return np.vstack(faces)
    raise InvalidArgumentError(
        f"cannot sample a {mujoco.mjtGeom(kind).name} collision geom; the arm's geoms may be meshes, "
        "boxes, spheres, cylinders or capsules"
    )


def _in_box(local: np.ndarray, box: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return np.all((local >= box[0]) & (local <= box[1]), axis=1)


@dataclass(frozen=True)
class HeldVolume:
    """Where the closed gripper's load lies, in the TCP frame (MoveIt's attached object): the gripper's own
    volume and, when the client says what it holds, that object's box (``pose`` 4x4 in the TCP frame,
    ``size`` its sides), a voxel wider on each side for depth noise. A rim-held bowl reaches far beyond
    the fingers: its far side, left in the scene, would be an obstacle the hand cannot leave."""

    pose: np.ndarray | None = None
    size: np.ndarray | None = None

    def contains(self, local: np.ndarray, pad: float = 0.0) -> np.ndarray:
        """Which of ``local`` (TCP-frame points) lie in the volume, ``pad`` metres wider all round."""
        inside = _in_box(local, (HELD_BOX[0] - pad, HELD_BOX[1] + pad))
        if self.pose is not None and self.size is not None:
            in_object = (local - self.pose[:3, 3]) @ self.pose[:3, :3]
            inside |= np.all(np.abs(in_object) <= np.asarray(self.size) / 2 + VOXEL + pad, axis=1)
        return inside


def _arm_bodies(model: mujoco.MjModel, first_joint: str) -> set[int]:
    """The arm's mount (the parent of its first joint's body) and every body below it; a mobile base's
    body and legs, which do not move with the arm, are not among them."""
    mount = int(model.body_parentid[model.jnt_bodyid[model.joint(first_joint).id]])
    bodies = {mount}
    for body in range(mount + 1, model.nbody):  # MuJoCo numbers a body after its parent
        if int(model.body_parentid[body]) in bodies:
            bodies.add(body)
    return bodies


class ArmSurface:
    """The arm's surface samples for a robot model; poses come from an ``MjData`` after kinematics."""

    def __init__(self, robot: RobotModel, spacing: float = 0.02, fine_spacing: float = 0.008) -> None:
        rng = np.random.default_rng(0)
        model = robot.model
        arm_bodies = _arm_bodies(model, robot.arm.mjcf_joints[0])
        moving = {
            g
            for g in range(model.ngeom)
            if model.geom_bodyid[g] in arm_bodies and (model.geom_contype[g] or model.geom_conaffinity[g])
        }
        self.geoms = sorted(moving)
        fine = {model.body(n).id for n in robot.arm.fine_bodies}
        self.samples = [
            _surface_samples(model, g, fine_spacing if model.geom_bodyid[g] in fine else spacing, rng)
            for g in self.geoms
        ]
        self.radius = np.array([np.linalg.norm(s, axis=1).max() for s in self.samples])
        self.contact = [model.geom_bodyid[g] in fine for g in self.geoms]  # parts that may touch on purpose
        self.names = [robot.geom_owner(g) for g in self.geoms]
        self.tcp_site = model.site(robot.arm.tcp_site).id
        self.hand_body = model.body(robot.arm.hand_body).id
        self.held = np.zeros((0, 3))  # in the hand body's frame

    def points(self, data: mujoco.MjData) -> np.ndarray:
        """Every surface sample (and held point) in the base frame."""
        parts = [
            s @ data.geom_xmat[g].reshape(3, 3).T + data.geom_xpos[g]
            for g, s in zip(self.geoms, self.samples, strict=True)
        ]
        return np.vstack([*parts, self.held_points(data)])

    def held_points(self, data: mujoco.MjData) -> np.ndarray:
        return self.held @ data.xmat[self.hand_body].reshape(3, 3).T + data.xpos[self.hand_body]

    def _tcp_local(self, data: mujoco.MjData, points: np.ndarray) -> np.ndarray:
        rotation = data.site_xmat[self.tcp_site].reshape(3, 3)
        return (points - data.site_xpos[self.tcp_site]) @ rotation

    def prepare(
        self,
        cloud: np.ndarray,
        start: mujoco.MjData,
        goal: mujoco.MjData | None,
        held: HeldVolume | None,
        viewpoint: np.ndarray | None = None,
        surfaces: tuple[SupportSurface, ...] = (),
        others: Sequence[tuple[np.ndarray, np.ndarray | None]] = (),
    ) -> tuple[np.ndarray, np.ndarray]:
        """The scene points that count as obstacles for a motion from ``start`` (to ``goal``, when
        known), and those of them the camera saw (the rest fill in behind them); what lies in the
        ``held`` volume at the start (None: nothing held; the gripper's volume is never an obstacle) is
        attached to the hand. With the camera's ``viewpoint``, the space just behind what it saw counts
        as occupied too, except around what is held. ``others``: (cloud, viewpoint) of further
        cameras, cleaned and filled in the same way (viewpoint None: nothing hidden, e.g. a mapped box's
        faces); obstacles only (a contact judges depth along the first camera's rays, so their points
        are not among the visible ones)."""
        volume = held or HeldVolume()
        cloud, in_gripper = self._split_held(cloud, start, volume)
        load = in_gripper if held is not None else np.zeros((0, 3))
        hand_rotation = start.xmat[self.hand_body].reshape(3, 3)
        self.held = _voxel_unique((load - start.xpos[self.hand_body]) @ hand_rotation, 0.01)
        arm = cKDTree(self.points(start))  # built after ``held``: this motion's held object is the arm's too
        cloud = visible = _off(cloud, arm)
        if viewpoint is not None:
            cloud = with_hidden_side(cloud, viewpoint, surfaces)
        extra = []
        for other, seen_from in others:
            other = _off(self._split_held(other, start, volume)[0], arm)
            extra.append(other if seen_from is None else with_hidden_side(other, seen_from, surfaces))
        cloud = np.vstack([cloud, *extra])
        if held is not None:  # the held object fills its space: nothing is hidden there (behind a drawer's
            # front wall, the filled-in space would reach the rim-held bowl inside)
            cloud = cloud[~held.contains(self._tcp_local(start, cloud), pad=FILL_MARGIN)]
        if goal is not None:
            cloud, visible = (self.outside_target(goal, c) for c in (cloud, visible))
        return cloud, visible

    def _split_held(
        self, cloud: np.ndarray, start: mujoco.MjData, volume: HeldVolume
    ) -> tuple[np.ndarray, np.ndarray]:
        """One camera's cloud, voxelled, and apart from it what lies in the held ``volume`` at ``start``."""
        cloud = _voxel_unique(np.asarray(cloud, dtype=np.float64).reshape(-1, 3), VOXEL)
        in_gripper = volume.contains(self._tcp_local(start, cloud))
        return cloud[~in_gripper], cloud[in_gripper]

    def outside_target(self, goal: mujoco.MjData, points: np.ndarray) -> np.ndarray:
        """``points`` without those in the gripper's volume at ``goal`` (where a motion reaches into)."""
        return points[~_in_box(self._tcp_local(goal, points), TARGET_BOX)]


def _off(cloud: np.ndarray, arm: cKDTree) -> np.ndarray:
    """``cloud`` without the points within the self-filter distance of the arm's surface samples."""
    if not len(cloud):
        return cloud
    return cloud[~np.isfinite(arm.query(cloud, distance_upper_bound=SELF_FILTER)[0])]


class SceneObstacles:
    """A point cloud the arm must keep ``clearance`` from; in contact mode (``contact_depth`` set) the
    contact parts may touch what was ``visible`` (seen from ``viewpoint``) up to that depth."""

    def __init__(
        self,
        points: np.ndarray,
        clearance: float = 0.015,
        visible: np.ndarray | None = None,
        viewpoint: np.ndarray | None = None,
        contact_depth: float | None = None,
    ) -> None:
        self.points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        self.tree = cKDTree(self.points) if len(self.points) else None
        self.clearance, self.contact_depth = clearance, contact_depth
        seen = self.points if visible is None else np.asarray(visible, dtype=np.float64).reshape(-1, 3)
        self.visible, self.visible_tree = seen, cKDTree(seen) if len(seen) else None
        self.viewpoint = None if viewpoint is None else np.asarray(viewpoint, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.points)

    def collides(self, arm: ArmSurface, data: mujoco.MjData) -> bool:
        return self.first_hit(arm, data) is not None

    def first_hit(self, arm: ArmSurface, data: mujoco.MjData) -> Hit | None:
        """Where the arm first comes within the clearance of a seen point (or, in contact mode, where a
        contact part reaches too deep), or None."""
        if self.tree is None:
            return None
        for geom, samples, radius, contact, name in zip(
            arm.geoms, arm.samples, arm.radius, arm.contact, arm.names, strict=True
        ):
            centre = data.geom_xpos[geom]
            if not self.tree.query_ball_point(centre, radius + self.clearance, return_length=True):
                continue  # nothing near this link at all
            world = samples @ data.geom_xmat[geom].reshape(3, 3).T + centre
            hit = (
                self._deep(world, name)
                if contact and self.contact_depth is not None
                else self._hit(world, name)
            )
            if hit is not None:
                return hit
        if self.contact_depth is not None or not len(arm.held):
            return None
        return self._hit(arm.held_points(data), "what the gripper holds")

    def _hit(self, points: np.ndarray, part: str) -> Hit | None:
        distances, index = self.tree.query(points, distance_upper_bound=self.clearance)  # type: ignore[union-attr]
        near = np.flatnonzero(np.isfinite(distances))
        return Hit(np.round(self.points[index[near[0]]], 3).tolist(), part) if len(near) else None

    def _deep(self, points: np.ndarray, part: str) -> Hit | None:
        """A contact part's point more than ``contact_depth`` behind the seen surface, or in the filled-in
        space behind it (near no seen point but within the clearance of the fill)."""
        limit = float(self.contact_depth or 0.0)
        if self.visible_tree is not None:
            distances, index = self.visible_tree.query(points, distance_upper_bound=SURFACE_RADIUS)
            near = np.isfinite(distances)
            if near.any():
                surface = self.visible[index[near]]
                rays = surface - (self.viewpoint if self.viewpoint is not None else surface + [0, 0, 1.0])
                rays /= np.maximum(np.linalg.norm(rays, axis=1, keepdims=True), 1e-9)
                depth = np.einsum("ij,ij->i", points[near] - surface, rays)
                worst = int(np.argmax(depth))
                if depth[worst] > limit:
                    return Hit(np.round(surface[worst], 3).tolist(), part, float(depth[worst]))
            points = points[~near]
        if not len(points):
            return None
        distances, index = self.tree.query(points, distance_upper_bound=self.clearance)  # type: ignore[union-attr]
        inside = np.flatnonzero(np.isfinite(distances))
        if not len(inside):
            return None
        return Hit(np.round(self.points[index[inside[0]]], 3).tolist(), part, limit + SURFACE_RADIUS)
