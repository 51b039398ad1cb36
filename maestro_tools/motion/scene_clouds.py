"""What the motion node's arm keeps clear of, gathered at each plan (a mixin of ``MotionNode``): the scene
camera's depth cloud, the obstacle cameras' clouds, the floor placed from TF and the semantic map's
furniture near the arm (``mapped_furniture.py``) but where those cameras see past it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from maestro_tools.common.errors import MaestroError
from maestro_tools.motion.execution import seconds
from maestro_tools.motion.mapped_furniture import not_seen_through
from maestro_tools.perception.cloud import depth_cloud, scene_points
from maestro_tools.perception.objects import CameraFrame

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

    def scene_clouds(
        self,
    ) -> tuple[np.ndarray | None, np.ndarray | None, str, list[tuple[np.ndarray, np.ndarray | None]]]:
        """The scene camera's cloud and viewpoint (None and why without a frame), and the other clouds:
        the obstacle cameras' with their viewpoints (a camera without a frame now is left out) and the
        mapped furniture's faces these cameras do not see past (no viewpoint: nothing hidden behind)."""
        frames: list[CameraFrame] = []
        cloud, viewpoint, note = None, None, ""
        if self.scene_camera:
            without = "planned against the robot and the support surfaces only"
            cloud, viewpoint, note = self.camera_cloud(self.scene_camera, without, frames)
        others: list[tuple[np.ndarray, np.ndarray | None]] = []
        for camera in self.obstacle_cameras:
            seen, seen_from, _ = self.camera_cloud(camera, "planned without it", frames)
            if seen is not None and seen_from is not None:
                others.append((seen, seen_from))
        faces = self.furniture.points(self._base_in_fixed(None)) if self.furniture is not None else None
        if faces is not None:
            faces = not_seen_through(faces, frames)
            if len(faces):
                others.append((faces, None))
        return cloud, viewpoint, note, others

    def camera_cloud(
        self, camera: str, without: str, frames: list[CameraFrame]
    ) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        """``camera``'s depth cloud off the supports and where it looked from, or None and why; its frame
        is added to ``frames``."""
        try:
            frame = self.frames.grab(camera)
        except MaestroError as exc:
            note = f"no {camera} camera frame ({exc}): {without}"
            self.get_logger().warning(note, throttle_duration_sec=30.0)
            return None, None, note
        frames.append(frame)
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
