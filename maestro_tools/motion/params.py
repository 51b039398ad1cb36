"""The motion node's parameters, declared with descriptions and read once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from rclpy.node import Node

from maestro_tools.common.params import declare
from maestro_tools.mapping.furniture_source import MapObstacleConfig, declare_map_obstacles
from maestro_tools.robots.profile import RobotProfile

NO_MAP = MapObstacleConfig(enabled=False)


@dataclass(frozen=True)
class MotionParams:
    backend: str
    moveit_group: str
    moveit_tcp_link: str
    joint_prefix: str
    max_joint_velocity: float
    arm_action: str
    joint_states_topic: str
    scene_camera: str
    obstacle_cameras: tuple[str, ...]
    scene_timeout: float
    clearance: float
    stall_tolerance: float
    stall_time: float
    tcp_pose_rate: float
    goal_tolerance: float
    floor_from_tf: bool = False
    map_obstacles: MapObstacleConfig = NO_MAP


def declare_motion_params(node: Node, profile: RobotProfile) -> MotionParams:
    arm = profile.arm
    assert arm is not None  # declare_robot's caller has required the arm
    return MotionParams(
        backend=declare(
            node,
            "backend",
            "mink",
            "Motion backend: mink (IK, Cartesian lines, OMPL paths; executes via arm_action) or moveit "
            "(moveit_py on a stock ROS install with the robot's MoveIt config)",
            choices=("mink", "moveit"),
        ),
        moveit_group=declare(
            node, "moveit_group", str(profile.extra.get("moveit_group", "arm")), "MoveIt planning group"
        ),
        moveit_tcp_link=declare(node, "moveit_tcp_link", arm.tcp_frame, "Link the pose goals refer to"),
        joint_prefix=declare(
            node,
            "joint_prefix",
            "",
            "The driver's joint-name prefix if it differs from the profile's (franka_ros2: fr3_)",
        ),
        max_joint_velocity=declare(
            node,
            "max_joint_velocity",
            arm.max_joint_velocity,
            "Joint speed limit at velocity_scaling 1, rad/s",
            minimum=0.05,
            maximum=2.5,
        ),
        arm_action=declare(
            node,
            "arm_action",
            "arm_controller/follow_joint_trajectory",
            "The arm controller's control_msgs/FollowJointTrajectory action (franka_ros2: "
            "/fr3_arm_controller/follow_joint_trajectory)",
        ),
        joint_states_topic=declare(
            node, "joint_states_topic", "joint_states", "The robot's sensor_msgs/JointState topic"
        ),
        scene_camera=declare(
            node,
            "scene_camera",
            profile.detection_camera,
            "Camera whose depth cloud motions keep clear of (the objects around the robot); empty: plan "
            "against the robot and the support surfaces only",
        ),
        obstacle_cameras=tuple(
            camera
            for camera in declare(
                node,
                "obstacle_cameras",
                [""],
                "Further cameras whose depth clouds motions keep clear of (a mobile base's head camera sees "
                "the walls and furniture beside the arm that the hand camera does not); [''] = none",
            )
            if camera
        ),
        scene_timeout=declare(
            node, "scene_timeout", 3.0, "Seconds to wait for a scene camera frame", minimum=0.05, maximum=10.0
        ),
        clearance=declare(
            node, "clearance", 0.015, "Metres the arm keeps from scene points", minimum=0.0, maximum=0.1
        ),
        stall_tolerance=declare(
            node,
            "stall_tolerance",
            0.15,
            "Radians a joint may lag its trajectory before it counts as stalled",
            minimum=0.01,
            maximum=1.0,
        ),
        stall_time=declare(
            node, "stall_time", 0.3, "Seconds of lag beyond stall_tolerance that stop a motion", minimum=0.05
        ),
        tcp_pose_rate=declare(
            node, "tcp_pose_rate", 30.0, "Hz of tcp_pose publishing", minimum=1.0, maximum=200.0
        ),
        goal_tolerance=declare(
            node,
            "goal_tolerance",
            arm.joint_tolerance,
            "Per-joint position tolerance (rad) at the trajectory's end, sent in each goal (default: the "
            "robot profile's joint_tolerance, what the agent checks); 0 = the controller's own",
            minimum=0.0,
            maximum=0.5,
        ),
        floor_from_tf=declare(
            node,
            "floor_from_tf",
            False,
            "A mobile robot's floor is the plane z = 0 of the fixed frame, placed in the base frame from TF "
            "at each plan (a legged base lowers and pitches its body); not also in support_surfaces",
        )
        and profile.base is not None,
        map_obstacles=declare_map_obstacles(
            node,
            False,
            "Keep the arm clear of the semantic map's furniture near it, too (what the cameras lose up "
            "close: the top of a sofa's back above a mobile robot's head camera)",
        ),
    )
