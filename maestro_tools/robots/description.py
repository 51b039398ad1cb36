"""The robot's URDF, generated from its robot-only MJCF (MjSpec introspection), for RViz and TF.

Bodies become links named by the profile's ``ros_names``; hinge and slide joints become revolute
(continuous when unlimited) and prismatic joints with the MJCF's axis, limits and force ranges;
bodies without joints hang on fixed joints; the TCP site and every robot camera's optical frame are
fixed child links. Visual and collision meshes reference the model's mesh files by absolute
``file://`` URI with the MjSpec's geom pose and mesh scale (the compiled model's are re-centred on
the mesh's inertia). ``robot_tree`` is the same kinematics as plain data, which the simulation's TF
publisher uses, so what RViz draws and what /tf says cannot disagree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np
import transforms3d

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.robots.profile import RobotProfile

# Neither is in an MJCF: sensible limits for joints whose model has no force range.
DEFAULT_EFFORT = {"revolute": 100.0, "continuous": 100.0, "prismatic": 100.0}
DEFAULT_VELOCITY = {"revolute": 2.0, "continuous": 2.0, "prismatic": 0.2}  # rad/s, m/s
# MuJoCo cameras look along -z with y up; ROS optical frames look along +z with y down.
MJ_CAMERA_TO_OPTICAL = np.diag([1.0, -1.0, -1.0, 1.0])
_JOINT_TYPES = {int(mujoco.mjtJoint.mjJNT_HINGE): "revolute", int(mujoco.mjtJoint.mjJNT_SLIDE): "prismatic"}


def transform(pos: np.ndarray, quat: np.ndarray) -> np.ndarray:
    """4x4 from a position and a MuJoCo (w, x, y, z) quaternion."""
    matrix = np.eye(4)
    matrix[:3, :3] = transforms3d.quaternions.quat2mat(np.asarray(quat, dtype=np.float64))
    matrix[:3, 3] = pos
    return matrix


def _translation(offset: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, 3] = offset
    return matrix


def _inverse(matrix: np.ndarray) -> np.ndarray:
    inverse = np.eye(4)
    inverse[:3, :3] = matrix[:3, :3].T
    inverse[:3, 3] = -matrix[:3, :3].T @ matrix[:3, 3]
    return inverse


@dataclass(frozen=True)
class Joint:
    """A URDF joint: ``origin`` is the child link's frame in the parent's at position 0."""

    name: str
    type: str  # fixed | revolute | continuous | prismatic
    parent: str
    child: str
    origin: np.ndarray  # 4x4
    axis: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    lower: float = 0.0
    upper: float = 0.0
    effort: float = 0.0
    velocity: float = 0.0
    mimic: tuple[str, float, float] | None = None  # (joint, multiplier, offset)

    def transform(self, position: float = 0.0) -> np.ndarray:
        """The child link's pose in the parent link at joint ``position`` (rad or m)."""
        if self.type == "fixed":
            return self.origin
        motion = np.eye(4)
        if self.type == "prismatic":
            motion[:3, 3] = self.axis * position
        else:
            motion[:3, :3] = transforms3d.axangles.axangle2mat(self.axis, position)
        return self.origin @ motion


@dataclass(frozen=True)
class Geometry:
    kind: str  # mesh | box | sphere | cylinder
    origin: np.ndarray  # 4x4 in the link
    size: tuple[float, ...] = ()  # box: full sizes; sphere: radius; cylinder: radius, length
    mesh: str = ""  # absolute path
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    rgba: tuple[float, float, float, float] = (0.7, 0.7, 0.7, 1.0)


@dataclass(frozen=True)
class Link:
    name: str
    mass: float = 0.0
    inertial_origin: np.ndarray = field(default_factory=lambda: np.eye(4))
    inertia: tuple[float, float, float] = (0.0, 0.0, 0.0)  # principal moments along inertial_origin
    visuals: tuple[Geometry, ...] = ()
    collisions: tuple[Geometry, ...] = ()


@dataclass(frozen=True)
class RobotTree:
    name: str
    root: str  # the root link (the profile's base frame)
    root_body: str  # the root link's MJCF body
    links: tuple[Link, ...]
    joints: tuple[Joint, ...]

    def joint(self, name: str) -> Joint:
        for joint in self.joints:
            if joint.name == name:
                return joint
        raise InvalidArgumentError(f"no joint {name!r}; joints: {', '.join(j.name for j in self.joints)}")


def _joint_limits(model: mujoco.MjModel, joint: int, kind: str) -> tuple[float, float, float, float]:
    """(lower, upper, effort, velocity): the range, the joint's or its actuators' force range."""
    lower, upper = (float(v) for v in model.jnt_range[joint]) if model.jnt_limited[joint] else (0.0, 0.0)
    efforts = []
    if model.jnt_actfrclimited[joint]:
        efforts.append(float(np.abs(model.jnt_actfrcrange[joint]).max()))
    for actuator in range(model.nu):
        direct = model.actuator_trntype[actuator] == mujoco.mjtTrn.mjTRN_JOINT
        if direct and model.actuator_trnid[actuator, 0] == joint and model.actuator_forcelimited[actuator]:
            gear = abs(float(model.actuator_gear[actuator, 0])) or 1.0
            efforts.append(float(np.abs(model.actuator_forcerange[actuator]).max()) * gear)
    return lower, upper, min(efforts) if efforts else DEFAULT_EFFORT[kind], DEFAULT_VELOCITY[kind]


def _mimics(model: mujoco.MjModel) -> dict[int, tuple[int, float, float]]:
    """Joint equalities q1 = c0 + c1 q2 as mimics of q2 on q1's partner: {joint2: (joint1, 1/c1, -c0/c1)}."""
    mimics = {}
    for eq in range(model.neq):
        coef = model.eq_data[eq, :5]
        linear = model.eq_type[eq] == mujoco.mjtEq.mjEQ_JOINT and model.eq_obj2id[eq] >= 0
        if linear and model.eq_active0[eq] and abs(coef[1]) > 1e-9 and not np.any(coef[2:]):
            mimics[int(model.eq_obj2id[eq])] = (int(model.eq_obj1id[eq]), 1 / coef[1], -coef[0] / coef[1])
    return mimics


def _geometries(
    spec_body: mujoco.MjsBody, model: mujoco.MjModel, spec: mujoco.MjSpec, to_link: np.ndarray
) -> tuple[list[Geometry], list[Geometry]]:
    visuals, collisions = [], []
    materials = {m.name: tuple(round(float(c), 4) for c in m.rgba) for m in spec.materials}
    for geom in spec_body.geoms:
        # Poses from the spec: the compiled model re-centres meshes (and geoms with them).
        if geom.alt.type != mujoco.mjtOrientation.mjORIENTATION_QUAT or not np.isnan(geom.fromto[0]):
            raise InvalidArgumentError(
                f"geom {geom.name or geom.meshname!r}: write its orientation as pos/quat"
            )
        origin = transform(geom.pos, geom.quat)
        if geom.frame is not None:
            origin = transform(geom.frame.pos, geom.frame.quat) @ origin
        origin = to_link @ origin
        rgba = materials.get(geom.material, tuple(round(float(c), 4) for c in geom.rgba))
        size = [float(s) for s in geom.size]
        if geom.type == mujoco.mjtGeom.mjGEOM_MESH:
            mesh = model.mesh(geom.meshname)
            path = model.paths[model.mesh_pathadr[mesh.id] :].split(b"\0", 1)[0].decode()
            scale = tuple(float(s) for s in spec.mesh(geom.meshname).scale)
            item = Geometry("mesh", origin, mesh=str(Path(path).resolve()), scale=scale, rgba=rgba)  # type: ignore[arg-type]
        elif geom.type == mujoco.mjtGeom.mjGEOM_BOX:
            item = Geometry("box", origin, tuple(2 * s for s in size), rgba=rgba)  # type: ignore[arg-type]
        elif geom.type == mujoco.mjtGeom.mjGEOM_SPHERE:
            item = Geometry("sphere", origin, (size[0],), rgba=rgba)  # type: ignore[arg-type]
        elif geom.type in (mujoco.mjtGeom.mjGEOM_CYLINDER, mujoco.mjtGeom.mjGEOM_CAPSULE):
            # URDF has no capsule: the cylinder that encloses it.
            caps = 2 * size[0] if geom.type == mujoco.mjtGeom.mjGEOM_CAPSULE else 0.0
            item = Geometry("cylinder", origin, (size[0], 2 * size[1] + caps), rgba=rgba)  # type: ignore[arg-type]
        else:
            continue  # planes, ellipsoids, height fields: not part of a robot's outline
        (visuals if geom.contype == 0 and geom.conaffinity == 0 else collisions).append(item)
    return visuals, collisions


_TREES: dict[str, RobotTree] = {}


def robot_tree(profile: RobotProfile) -> RobotTree:
    """The profile's robot-only MJCF as links and joints under ROS names (built once per profile)."""
    if profile.name not in _TREES:
        _TREES[profile.name] = _build_tree(profile)
    return _TREES[profile.name]


def _build_tree(profile: RobotProfile) -> RobotTree:
    spec = profile.build_mjcf()
    model = spec.compile()
    names = profile.ros_names
    roots = [b for b in range(1, model.nbody) if model.body_parentid[b] == 0]
    if len(roots) != 1:
        raise InvalidArgumentError(
            f"{profile.name}: the robot-only MJCF needs one root body; it has {len(roots)}"
        )
    mimics = _mimics(model)
    links: list[Link] = []
    joints: list[Joint] = []
    offsets = {0: np.eye(4)}  # body -> its link's frame in the body (at the joint's anchor)
    for body in range(1, model.nbody):
        body_name, link = model.body(body).name, names(model.body(body).name)
        count, first = int(model.body_jntnum[body]), int(model.body_jntadr[body])
        free = count == 1 and int(model.jnt_type[first]) == int(mujoco.mjtJoint.mjJNT_FREE)
        if count > 1 or (count == 1 and model.jnt_type[first] not in _JOINT_TYPES and not free):
            raise InvalidArgumentError(f"{body_name}: only one hinge or slide joint per body maps to URDF")
        if free and body not in roots:
            raise InvalidArgumentError(f"{body_name}: a free joint is allowed on the root body only")
        moving = count == 1 and not free
        offsets[body] = _translation(model.jnt_pos[first]) if moving else np.eye(4)
        to_link = _inverse(offsets[body])
        visuals, collisions = _geometries(spec.body(body_name), model, spec, to_link)
        mass = float(model.body_mass[body])
        links.append(
            Link(
                link,
                mass,
                to_link @ transform(model.body_ipos[body], model.body_iquat[body]),
                tuple(float(i) for i in model.body_inertia[body]),  # type: ignore[arg-type]
                tuple(visuals),
                tuple(collisions),
            )
        )
        if body in roots:
            continue  # the root link: where it stands is the cell's (world -> base), not the URDF's
        parent = int(model.body_parentid[body])
        origin = (
            _inverse(offsets[parent]) @ transform(model.body_pos[body], model.body_quat[body]) @ offsets[body]
        )
        parent_link = names(model.body(parent).name)
        if not moving:
            joints.append(Joint(f"{link}_joint", "fixed", parent_link, link, origin))
            continue
        kind = _JOINT_TYPES[int(model.jnt_type[first])]
        if kind == "revolute" and not model.jnt_limited[first]:
            kind = "continuous"
        lower, upper, effort, velocity = _joint_limits(model, first, kind)
        mimic = None
        if first in mimics:
            leader, multiplier, offset = mimics[first]
            mimic = (names(model.joint(leader).name), float(multiplier), float(offset))
        axis = np.asarray(model.jnt_axis[first], dtype=np.float64)
        joints.append(
            Joint(
                names(model.joint(first).name), kind, parent_link, link, origin,
                axis / np.linalg.norm(axis), lower, upper, effort, velocity, mimic,
            )
        )  # fmt: skip
    link_names = {link.name for link in links}
    body_of = {names(model.body(b).name): b for b in range(1, model.nbody)}

    def frame(name: str, body: int, local: np.ndarray) -> None:
        """A fixed child link at ``local`` in ``body``; a name that is a link already must be that pose."""
        pose = _inverse(offsets[body]) @ local
        if name in link_names:  # e.g. a TCP site at the origin of a TCP body of the same name
            if body_of.get(name) != body or not np.allclose(pose, np.eye(4), atol=1e-9):
                raise InvalidArgumentError(f"{profile.name}: frame {name!r} is also a link elsewhere")
            return
        links.append(Link(name))
        link_names.add(name)
        joints.append(Joint(f"{name}_joint", "fixed", names(model.body(body).name), name, pose))

    if profile.arm is not None:
        site = model.site(profile.arm.tcp_site)
        frame(profile.arm.tcp_frame, int(site.bodyid[0]), transform(site.pos, site.quat))
    for camera in profile.cameras:
        if camera.mjcf_camera:
            mj = model.camera(camera.mjcf_camera)
            pose = transform(mj.pos, mj.quat) @ MJ_CAMERA_TO_OPTICAL
            frame(camera.optical_frame, int(mj.bodyid[0]), pose)
    root = model.body(roots[0]).name
    return RobotTree(profile.name, names(root), root, tuple(links), tuple(joints))


def _number(value: float) -> str:
    return repr(float(value)) if value != 0 else "0"


def _origin(parent: ET.Element, matrix: np.ndarray) -> None:
    rpy = transforms3d.euler.mat2euler(matrix[:3, :3], "sxyz")
    ET.SubElement(
        parent,
        "origin",
        xyz=" ".join(_number(v) for v in matrix[:3, 3]),
        rpy=" ".join(_number(v) for v in rpy),
    )


def _geometry(parent: ET.Element, tag: str, item: Geometry, materials: dict[tuple[float, ...], str]) -> None:
    element = ET.SubElement(parent, tag)
    _origin(element, item.origin)
    shape = ET.SubElement(element, "geometry")
    if item.kind == "mesh":
        scale = " ".join(_number(s) for s in item.scale)
        ET.SubElement(shape, "mesh", filename=Path(item.mesh).as_uri(), scale=scale)
    elif item.kind == "box":
        ET.SubElement(shape, "box", size=" ".join(_number(s) for s in item.size))
    elif item.kind == "sphere":
        ET.SubElement(shape, "sphere", radius=_number(item.size[0]))
    else:
        ET.SubElement(shape, "cylinder", radius=_number(item.size[0]), length=_number(item.size[1]))
    if tag == "visual":
        ET.SubElement(element, "material", name=materials.setdefault(item.rgba, f"color_{len(materials)}"))


def tree_to_urdf(tree: RobotTree) -> str:
    """The URDF XML of a robot tree."""
    robot = ET.Element("robot", name=tree.name)
    materials: dict[tuple[float, ...], str] = {}
    for link in tree.links:
        element = ET.SubElement(robot, "link", name=link.name)
        if link.mass > 0:
            inertial = ET.SubElement(element, "inertial")
            _origin(inertial, link.inertial_origin)
            ET.SubElement(inertial, "mass", value=_number(link.mass))
            ixx, iyy, izz = (_number(i) for i in link.inertia)
            ET.SubElement(inertial, "inertia", ixx=ixx, iyy=iyy, izz=izz, ixy="0", ixz="0", iyz="0")
        for visual in link.visuals:
            _geometry(element, "visual", visual, materials)
        for collision in link.collisions:
            _geometry(element, "collision", collision, materials)
    for joint in tree.joints:
        element = ET.SubElement(robot, "joint", name=joint.name, type=joint.type)
        _origin(element, joint.origin)
        ET.SubElement(element, "parent", link=joint.parent)
        ET.SubElement(element, "child", link=joint.child)
        if joint.type == "fixed":
            continue
        ET.SubElement(element, "axis", xyz=" ".join(_number(v) for v in joint.axis))
        limits = {"effort": _number(joint.effort), "velocity": _number(joint.velocity)}
        if joint.type != "continuous":
            limits.update(lower=_number(joint.lower), upper=_number(joint.upper))
        ET.SubElement(element, "limit", **limits)
        if joint.mimic is not None:
            leader, multiplier, offset = joint.mimic
            ET.SubElement(
                element, "mimic", joint=leader, multiplier=_number(multiplier), offset=_number(offset)
            )
    for index, (rgba, name) in enumerate(materials.items()):  # first: the visuals name them
        material = ET.Element("material", name=name)
        ET.SubElement(material, "color", rgba=" ".join(_number(c) for c in rgba))
        robot.insert(index, material)
    ET.indent(robot)
    return '<?xml version="1.0"?>\n' + ET.tostring(robot, encoding="unicode") + "\n"


_CACHE: dict[str, str] = {}


def robot_description(profile: RobotProfile) -> str:
    """The profile's URDF (what ``/robot_description`` carries), built once per profile."""
    if profile.name not in _CACHE:
        _CACHE[profile.name] = tree_to_urdf(robot_tree(profile))
    return _CACHE[profile.name]
