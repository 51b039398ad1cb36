"""``libero``: LIBERO's Panda (robosuite's Franka Panda and gripper) on LIBERO's table, as a Maestro robot.

The LIBERO node (``maestro_tools.sim.libero``) serves it with the Franka's joint names, so the arm
model is the Franka profile's Panda (the same kinematics as robosuite's), with the TCP and the wrist
camera moved to where LIBERO has them (measured in LIBERO: ``gripper0_grip_site`` and
``robot0_eye_in_hand``). The base frame is the robot's base (robosuite ``robot0_base``), which LIBERO
puts at (-0.66, 0, 0.912) in its world in the table scenes and at (-0.6, 0, 0) in libero_object's floor
scene: the node publishes world -> base per scene, and the tools work in the base frame. The scene
camera is LIBERO's ``agentview`` (fixed in the world; 45 degrees fovy), the wrist camera 75 degrees.

This module must import under LIBERO's reference stack too (numpy 1.26, mujoco 2.3.7: the LIBERO node
reads its names here), so MuJoCo 3+ APIs are used only inside functions.
"""

from __future__ import annotations

from dataclasses import replace

import mujoco

from maestro_tools.robots.franka import FRANKA, PREFIX
from maestro_tools.robots.franka import build_mjcf as franka_mjcf
from maestro_tools.robots.profile import ArmSpec, CameraSpec, RobotProfile, Workspace

# Measured in LIBERO (libero_object/0): robosuite's hand (``robot0_right_hand``) sits 0.1065 m along
# link7's z, turned -45 degrees about it (the Franka: 0.107), and its grip site 0.097 m beyond the hand
# (the Franka profile's TCP: 0.1034). LIBERO's FK of that site matches its OSC's to 0.05 mm.
HAND_OFFSET = 0.1065
TCP_OFFSET = 0.097
# LIBERO's wrist camera (``robot0_eye_in_hand``) in the hand body: position (m), MuJoCo quaternion, fovy
# (measured: the optical frame looks along the hand's z, 5 cm off its axis).
WRIST_CAMERA = ((0.05, 0.0, 0.0), (0.0, 0.707107, 0.707107, 0.0), 75.0)
# LIBERO's start posture (libero_object/0, initial state 0, after the settle steps), joints 1..7 (rad).
HOME = (-0.01, -0.151, -0.003, -2.471, -0.001, 2.262, 0.774)
# LIBERO's (robosuite's) bodies -> the profile's ROS frames: the LIBERO node publishes their TF.
LIBERO_FRAMES = {
    **{f"robot0_link{i}": f"panda_link{i}" for i in range(8)},
    "robot0_right_hand": "panda_hand",
    "gripper0_leftfinger": "panda_leftfinger",
    "gripper0_rightfinger": "panda_rightfinger",
}


assert FRANKA.arm is not None
_FRANKA_ARM: ArmSpec = FRANKA.arm


def build_mjcf() -> mujoco.MjSpec:
    """The Franka profile's Panda with LIBERO's hand offset, TCP and wrist camera."""
    spec = franka_mjcf()
    spec.body(f"{PREFIX}flange").pos = [0.0, 0.0, HAND_OFFSET]
    spec.body(f"{PREFIX}TCP").pos = [0.0, 0.0, TCP_OFFSET]
    camera = spec.camera(f"{PREFIX}wrist_camera")
    (camera.pos, camera.quat), camera.fovy = WRIST_CAMERA[:2], WRIST_CAMERA[2]
    return spec


LIBERO = RobotProfile(
    name="libero",
    description="LIBERO's Franka Panda (robosuite) on LIBERO's table; the agentview scene camera and a wrist "
    "camera; tasks from the LIBERO and LIBERO-PRO suites",
    fixed_frame="world",
    base_frame="base",
    # Joints follow the OSC's null space, which holds them only loosely: moves home ended with joint 3 0.013
    # and joint 6 0.022-0.029 rad off, the TCP on its goal (LIBERO-PRO sweeps: 0.02 rad failed 8 moves home).
    arm=replace(_FRANKA_ARM, home=HOME, joint_tolerance=0.05),
    # The grip site is 6.5 mm short of the Franka profile's TCP: the fingertips reach 15 mm below it
    # and the hand's underside is 31 mm above it (measured on the model motion uses). At the Franka's
    # values a rim grasp on a 4 cm bowl put the fingertips into the table (12 mm up) and the hand's end
    # within the motion's 1.5 cm clearance of the bowl's far rim (3 cm deep, and still at 2 cm).
    gripper=replace(FRANKA.gripper, pad_clearance=0.021, finger_depth=0.016),
    cameras=(
        CameraSpec("scene", "scene_camera_optical_frame", "world"),
        CameraSpec("wrist", "wrist_camera_optical_frame", "panda_hand", mjcf_camera=f"{PREFIX}wrist_camera"),
    ),
    detection_camera="scene",
    # Base frame: LIBERO's table top (or floor, libero_object) is near z = 0; the objects lie ahead.
    workspace=Workspace(lower=(0.2, -0.5, -0.05), upper=(0.95, 0.5, 0.7)),
    build_mjcf=build_mjcf,
    ros_names=FRANKA.ros_names,
    joint_prefix="panda_",
    semantic_map=True,
    extra={"moveit_group": "panda_arm"},
)
