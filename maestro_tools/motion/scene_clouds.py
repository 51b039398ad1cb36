"""What the motion node's arm keeps clear of, gathered at each plan (a mixin of ``MotionNode``): the scene
camera's depth cloud, the obstacle cameras' clouds, the floor placed from TF and the semantic map's
furniture near the arm (``mapped_furniture.py``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from maestro_tools.common.errors import MaestroError
from maestro_tools.motion.execution import seconds
from maestro_tools.perception.cloud import depth_cloud, scene_points

if TYPE_CHECKING:
    from sensor_msgs.msg import JointState

    from maestro_tools.motion.floor import TfFloor
    from maestro_tools.motion.mapped_furniture import MappedFurniture
    from maestro_tools.perception.topic_source import TopicFrameSource
    from maestro_tools.robots.model import RobotModel
    from maestro_tools.robots.profile import RobotProfile


class SceneClouds:
    """The node's obstacle clouds; the node provides the attributes below and ``get_logger``."""

    profile: RobotProfile
    frames: TopicFrameSource
    floor: TfFloor | None
    furniture: MappedFurniture | None
    robot_model: RobotModel
    scene_camera: str
    obstacle_cameras: tuple[str, ...]
    _joints: JointState | None

    def scene_cloud(self) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        """The scene camera's depth cloud off the supports and where it looked from, or None and why."""
        if not self.scene_camera:
            return None, None, ""
        return self.camera_cloud(self.scene_camera, "planned against the robot and the support surfaces only")

    def obstacle_clouds(self) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """The obstacle cameras' clouds and viewpoints (a camera without a frame now is left out), and the
        mapped furniture's faces (no viewpoint: nothing hidden behind them)."""
        clouds: list[tuple[np.ndarray, np.ndarray | None]] = []
        for camera in self.obstacle_cameras:
            cloud, viewpoint, _ = self.camera_cloud(camera, "planned without it")
            if cloud is not None and viewpoint is not None:
                clouds.append((cloud, viewpoint))
        faces = self.furniture.points(self._base_in_fixed(None)) if self.furniture is not None else None
        return clouds if faces is None else [*clouds, (faces, None)]

    def camera_cloud(self, camera: str, without: str) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        """``camera``'s depth cloud off the supports and where it looked from, or None and why."""
        try:
            frame = self.frames.grab(camera)
        except MaestroError as exc:
            note = f"no {camera} camera frame ({exc}): {without}"
            self.get_logger().warning(note, throttle_duration_sec=30.0)
            return None, None, note
        # The plan starts from the joint states of the frame's moment (the arm's own points are removed
        # around that configuration): wait for one at least as new as the frame.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and (
            self._joints is None or seconds(self._joints.header.stamp) < frame.stamp
        ):
            time.sleep(0.005)
        points = depth_cloud(frame)
        if self.floor is not None:
            points = self.floor.drop(points, self._base_in_fixed(frame.stamp))
        cloud = scene_points(points, self.robot_model.surfaces, limit=400_000)
        return cloud, frame.camera_pose[:3, 3], ""

    def _base_in_fixed(self, stamp: float | None) -> np.ndarray | None:
        """The base's pose in the fixed frame from TF (the floor's place), or None (the last one) if TF has
        none now."""
        fixed, base = self.profile.fixed_frame, self.profile.base_frame
        try:
            return self.frames.tf.lookup(fixed, base, stamp, timeout=1.0)
        except MaestroError as exc:
            self.get_logger().warning(
                f"no TF {fixed} -> {base} ({exc}): the floor stays where it last was",
                throttle_duration_sec=10.0,
            )
            return None
