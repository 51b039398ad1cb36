"""The navigation node's parameters, declared with descriptions and read once at start-up."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rclpy.node import Node

from maestro_tools.common.params import declare
from maestro_tools.mapping.furniture_source import MapObstacleConfig, declare_map_obstacles
from maestro_tools.navigation.follower import FollowerConfig
from maestro_tools.navigation.grid import GridConfig
from maestro_tools.navigation.navigator import NavigatorConfig
from maestro_tools.navigation.self_filter import SelfFilterConfig
from maestro_tools.robots.profile import RobotProfile


@dataclass(frozen=True)
class NavigationParams:
    camera: str
    cmd_vel_topic: str
    odom_topic: str
    position_tolerance: float
    yaw_tolerance: float
    timeout: float
    control_rate: float
    pixel_stride: int
    tf_timeout: float
    grid: GridConfig
    follower: FollowerConfig
    navigator: NavigatorConfig
    self_filter: SelfFilterConfig
    map_obstacles: MapObstacleConfig


def declare_navigation_params(node: Node, profile: RobotProfile) -> NavigationParams:
    base = profile.base
    assert base is not None  # the caller required the base

    def number(name: str, default: float, text: str, low: float, high: float) -> float:
        return declare(node, name, float(default), text, minimum=low, maximum=high)

    grid = GridConfig(
        resolution=number("grid_resolution", 0.1, "Occupancy grid cell size, m", 0.02, 0.5),
        size=number("grid_size", 16.0, "Side of the square grid window around the robot, m", 4.0, 100.0),
        floor_height=number("floor_height", 0.0, "The floor's z in the fixed frame, m", -5.0, 5.0),
        min_height=number(
            "obstacle_min_height", 0.08, "Points lower than this above the floor are floor, m", 0.01, 1.0
        ),
        max_height=number(
            "obstacle_max_height",
            1.0,
            "Points higher than this above the floor pass over the robot (its height with the arm stowed), m",
            0.1,
            3.0,
        ),
        max_range=number("max_range", 4.0, "Depth beyond this only clears the grid, m", 0.5, 20.0),
    )
    follower = FollowerConfig(
        max_linear=number(
            "max_linear_speed", min(0.6, base.max_linear), "Top forward speed, m/s", 0.05, base.max_linear
        ),
        max_angular=number(
            "max_angular_speed", min(1.0, base.max_angular), "Top yaw rate, rad/s", 0.1, base.max_angular
        ),
        max_linear_accel=base.max_linear_accel,
        max_angular_accel=base.max_angular_accel,
        lookahead=number("lookahead", 0.6, "Pure-pursuit lookahead distance, m", 0.1, 3.0),
    )
    navigator = NavigatorConfig(
        footprint_radius=base.footprint_radius,
        inscribed_radius=base.inscribed,
        inflation_margin=number(
            "inflation_margin", 0.05, "Added to the base's inscribed radius when planning, m", 0.0, 1.0
        ),
        replan_period=number("replan_period", 1.0, "Seconds between replans", 0.1, 30.0),
        stall_time=number(
            "stall_time", 3.0, "Seconds commanded without moving before the base counts as stalled", 0.5, 60.0
        ),
        max_recoveries=declare(
            node,
            "max_recoveries",
            4,
            "Recoveries (back up, turn in place) before a goal fails",
            minimum=0,
            maximum=50,
        ),
        backup_distance=number("backup_distance", 0.3, "How far a recovery backs up, m", 0.0, 2.0),
    )
    arm_frames = (
        (*profile.arm.link_frames, profile.arm.tcp_frame) if profile.arm and profile.arm.link_frames else ()
    )
    self_filter = SelfFilterConfig(
        frames=tuple(
            frame
            for frame in declare(
                node,
                "self_filter_frames",
                list(arm_frames) or [""],
                "TF frames along the arm, mount to TCP: depth points near them (the arm, what the hand "
                "holds) are not obstacles; [''] = none",
            )
            if frame
        ),
        radius=number(
            "self_filter_radius",
            0.1,
            "Distance from the arm's links within which depth is the arm, m",
            0.01,
            1.0,
        ),
        hand_radius=number(
            "self_filter_hand_radius",
            0.18,
            "Distance from the last frame (the TCP) within which depth is the hand or what it holds, m",
            0.01,
            1.0,
        ),
    )
    map_obstacles = declare_map_obstacles(
        node,
        True,
        "Keep the semantic map's furniture out of the grid (a table top the depth camera loses up close)",
    )
    return NavigationParams(
        camera=declare(
            node,
            "camera",
            profile.detection_camera,
            "Depth camera the grid is built from (its <camera>_camera/depth/image_raw, color/camera_info)",
            choices=profile.camera_names,
        ),
        cmd_vel_topic=declare(node, "cmd_vel_topic", "cmd_vel", "geometry_msgs/Twist output"),
        odom_topic=declare(node, "odom_topic", "odom", "nav_msgs/Odometry input (stall checks use it)"),
        position_tolerance=number(
            "position_tolerance", 0.15, "Default goal position tolerance, m", 0.02, 5.0
        ),
        yaw_tolerance=number("yaw_tolerance", 0.15, "Default goal heading tolerance, rad", 0.01, math.pi),
        timeout=number(
            "timeout", 120.0, "Default goal timeout, s (the node's clock: sim time in sim)", 1.0, 3600.0
        ),
        control_rate=number("control_rate", 10.0, "Control loop rate, Hz (the node's clock)", 1.0, 50.0),
        pixel_stride=declare(
            node, "pixel_stride", 4, "Depth pixels used: every n-th row and column", minimum=1, maximum=32
        ),
        tf_timeout=number("tf_timeout", 5.0, "Seconds to wait for the robot's pose in TF", 0.1, 30.0),
        grid=grid,
        follower=follower,
        navigator=navigator,
        self_filter=self_filter,
        map_obstacles=map_obstacles,
    )
