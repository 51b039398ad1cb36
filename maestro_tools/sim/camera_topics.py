"""A simulated robot's RGB-D cameras on ROS topics, as camera drivers publish them.

Per camera, under ``<camera>_camera/``: ``color/image_raw`` (rgb8), ``depth/image_raw`` (32FC1 metres or
16UC1 millimetres, 0 = no reading) and both ``camera_info`` topics, stamped with the render's instant in
the camera's optical frame; images RELIABLE (``IMAGE_QOS``). Both simulation nodes (the Franka's and the
Go2-W's) publish their cameras through it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from maestro_tools.common.conversions import intrinsics_to_camera_info, numpy_to_image, seconds_to_time
from maestro_tools.common.qos import IMAGE_QOS, STATE_QOS
from maestro_tools.robots.profile import RobotProfile
from maestro_tools.sim.cameras import Frame

DEPTH_ENCODINGS = ("32FC1", "16UC1")


class CameraTopics:
    """The publishers of every camera of ``profile``."""

    def __init__(self, node: Node, profile: RobotProfile, depth_encoding: str = "32FC1") -> None:
        if depth_encoding not in DEPTH_ENCODINGS:
            raise ValueError(f"depth encoding {depth_encoding!r}; valid: {', '.join(DEPTH_ENCODINGS)}")
        self.profile, self.depth_encoding = profile, depth_encoding
        self.pubs: dict[str, dict[str, Any]] = {}
        for camera in profile.cameras:
            prefix = camera.namespace
            self.pubs[camera.name] = {
                "color": node.create_publisher(Image, f"{prefix}/color/image_raw", IMAGE_QOS),
                "color_info": node.create_publisher(CameraInfo, f"{prefix}/color/camera_info", STATE_QOS),
                "depth": node.create_publisher(Image, f"{prefix}/depth/image_raw", IMAGE_QOS),
                "depth_info": node.create_publisher(CameraInfo, f"{prefix}/depth/camera_info", STATE_QOS),
            }

    def watched(self, camera: str) -> bool:
        """Someone subscribes to the camera's colour or depth images (rendering is skipped otherwise)."""
        pubs = self.pubs[camera]
        return pubs["color"].get_subscription_count() + pubs["depth"].get_subscription_count() > 0

    def publish(self, camera: str, frame: Frame, intrinsics: np.ndarray) -> None:
        """Colour, depth and their camera info, at the frame's instant."""
        pubs = self.pubs[camera]
        optical = self.profile.camera(camera).optical_frame
        header = Header(stamp=seconds_to_time(frame.time), frame_id=optical)
        info = intrinsics_to_camera_info(intrinsics, frame.rgb.shape[1], frame.rgb.shape[0], header)
        pubs["color"].publish(numpy_to_image(frame.rgb, "rgb8", header))
        pubs["color_info"].publish(info)
        if self.depth_encoding == "16UC1":  # millimetres; 0 (no reading) stays 0, beyond 65.5 m too
            millimetres = np.round(frame.depth * 1000.0)
            depth = np.where(millimetres <= 65535, millimetres, 0).astype(np.uint16)
            pubs["depth"].publish(numpy_to_image(depth, "16UC1", header))
        else:
            pubs["depth"].publish(numpy_to_image(frame.depth, "32FC1", header))
        pubs["depth_info"].publish(info)
