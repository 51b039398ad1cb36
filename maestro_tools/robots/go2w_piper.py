"""The Unitree Go2-W (a quadruped on wheels) carrying an AgileX PiPER arm with a two-finger gripper, a
head RGB-D camera and a wrist RGB-D camera.

The robot-only model is built in code from packaged assets (``go2w_piper_model``): the base frame is
``base_link`` (REP-105: ``map -> odom -> base_link``), the arm hangs off it as ``piper_base_link ..
piper_link6 -> piper_gripper_base``, the cameras' optical frames are ``<camera>_color_optical_frame``.
In the simulation the legs hold a stand and the wheels drive the base skid-steer; the real robot walks
or rolls under its own controller and takes velocity commands.
"""

from __future__ import annotations

import math

from maestro_tools.robots import go2w_piper_model as model
from maestro_tools.robots import piper_model as piper
from maestro_tools.robots.profile import ArmSpec, BaseSpec, CameraSpec, GripperSpec, RobotProfile, Workspace


def ros_name(mjcf_name: str) -> str:
    """The model is built with the ROS names (Unitree's and piper_ros's): the identity."""
    return mjcf_name


GO2W_PIPER = RobotProfile(
    name="go2w_piper",
    description="Unitree Go2-W wheeled quadruped with an AgileX PiPER arm; a head camera and a wrist camera",
    fixed_frame="map",
    base_frame=model.BASE_BODY,
    arm=ArmSpec(
        joints=piper.ARM_JOINTS,
        mjcf_joints=piper.ARM_JOINTS,
        home=(0.0, 0.0, 0.0, 0.0, 0.0, 0.0),  # the PiPER's zero: folded, its travel pose on the base
        tcp_frame=piper.TCP_SITE,
        tcp_site=piper.TCP_SITE,
        hand_body=piper.GRIPPER_BODY,
        fine_bodies=(piper.GRIPPER_BODY, *(j.replace("joint", "link") for j in piper.FINGER_JOINTS)),
        reach=0.77,  # m, joint2 to the TCP stretched out: 0.285 + 0.252 + 0.091 + 0.135 (TCP offset)
        max_joint_velocity=1.0,
        # Stretched out over a table the PiPER's servos come to rest up to ~6 mm short (measured in the sim).
        reach_tolerance=0.01,
        # Pointing down, the wrist (joint6 within +-2.09 rad) reaches with the TCP x axis along -x (yaw 0 is
        # out of range); a table top is level with the shoulder: the arm reaches over it tilted 30-60 deg.
        down_yaw=math.pi,
        grasp_tilts=(math.radians(30.0), math.radians(45.0), math.radians(60.0)),
        # The wrist camera 0.4 m up, 0.25 m ahead, pitched 60 deg from vertical: a table top ahead in view;
        # then the same turned 0.6 rad left and right.
        look_poses=tuple((yaw, 0.69, -0.97, 0.0, 0.89, 0.0) for yaw in (0.0, 0.6, -0.6)),
        link_frames=(
            f"{piper.PREFIX}base_link",
            *(f"{piper.PREFIX}link{i}" for i in range(1, 7)),
            piper.GRIPPER_BODY,
        ),
    ),
    gripper=GripperSpec(
        kind="parallel",
        max_width=2 * piper.FINGER_TRAVEL,
        finger_joints=piper.FINGER_JOINTS,
        mjcf_finger_joints=piper.FINGER_JOINTS,
        finger_depth=0.025,
        pad_clearance=0.03,  # the pads reach 25 mm past the TCP
        empty_width=0.003,
        # Not from a datasheet: the model's finger servo pushes with at most 40 N; 20 N holds a plush toy.
        grasp_force=20.0,
        max_force=piper.GRIPPER_FORCE,
        speed=0.05,
        # Boxes around the open fingers' pads and the housing, TCP frame (z = approach), from the model.
        volumes=(
            ((-0.012, 0.035, -0.035), (0.012, 0.045, 0.025)),
            ((-0.012, -0.045, -0.035), (0.012, -0.035, 0.025)),
            ((-0.035, -0.055, -0.135), (0.035, 0.055, -0.035)),
        ),
    ),
    base=BaseSpec(
        max_linear=1.0,
        max_angular=1.5,
        footprint_radius=0.45,  # the 0.68 x 0.45 m footprint's half diagonal (0.41), and a margin
        inscribed_radius=0.25,  # its half width (0.224), and a margin
        left_wheels=("FL_wheel_joint", "RL_wheel_joint"),
        right_wheels=("FR_wheel_joint", "RR_wheel_joint"),
        wheel_radius=model.WHEEL_RADIUS,
        track_width=model.TRACK_WIDTH,
        posture=tuple(zip(model.LEG_JOINTS, model.STAND * len(model.LEGS), strict=True)),
        # The body lowers and pitches on command, the legs' IK keeping the wheels in place (``body_posture``):
        # 0.18 m down as Unitree's BodyHeight (-0.18..+0.03 m; not in unitree_sdk2py 1.0.3), 20 deg of pitch
        # (SportClient.Euler); at the full stand height the rear legs allow 15 deg.
        min_height_offset=-0.18,
        max_pitch=math.radians(20.0),
    ),
    cameras=(
        # The wrist camera first: it is the hand camera (close views before a grasp).
        CameraSpec(
            "wrist", "wrist_camera_color_optical_frame", piper.GRIPPER_BODY, mjcf_camera=piper.WRIST_CAMERA
        ),
        CameraSpec("head", "head_camera_color_optical_frame", model.BASE_BODY, mjcf_camera=model.HEAD_CAMERA),
    ),
    detection_camera="head",
    # Where the TCP may go, base_link frame (the floor is z = -0.37 in the stand): in front of and beside
    # the base, from the floor to above a table top.
    workspace=Workspace(lower=(-0.3, -0.7, -0.42), upper=(0.85, 0.7, 0.75)),
    build_mjcf=model.build_mjcf,
    ros_names=ros_name,
    joint_prefix=piper.PREFIX,
    semantic_map=True,
)
