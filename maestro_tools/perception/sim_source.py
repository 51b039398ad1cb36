"""Camera frames with instance segmentation and named sites from the simulator's ``get_segmentation``
service."""

from __future__ import annotations

import numpy as np
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node

from maestro_msgs.srv import GetSegmentation
from maestro_tools.common.conversions import camera_info_to_intrinsics, image_to_numpy, pose_to_matrix
from maestro_tools.common.errors import MaestroTimeoutError, UnavailableError, error_from_code
from maestro_tools.common.spinning import wait_future_blocking
from maestro_tools.perception.objects import CameraFrame


class SimFrameSource:
    """Fetches a ``CameraFrame`` per call; callable from a callback of a multi-threaded executor."""

    def __init__(
        self, node: Node, group: CallbackGroup, timeout: float, service: str = "get_segmentation"
    ) -> None:
        self.client = node.create_client(GetSegmentation, service, callback_group=group)
        self.timeout = timeout

    def __call__(self, camera: str) -> CameraFrame:
        if not self.client.wait_for_service(timeout_sec=self.timeout):
            raise UnavailableError(
                f"{self.client.srv_name} is not available: this backend needs the sim node"
            )
        reply = wait_future_blocking(
            self.client.call_async(GetSegmentation.Request(camera=camera)), self.timeout
        )
        if reply is None:
            raise MaestroTimeoutError(f"no frame from the {camera} camera within {self.timeout} s")
        if not reply.success:
            raise error_from_code(reply.error_code, reply.message)
        stamp = reply.image.header.stamp
        return CameraFrame(
            camera=camera,
            rgb=image_to_numpy(reply.image),
            depth=image_to_numpy(reply.depth),
            instances=image_to_numpy(reply.segmentation),
            labels=dict(zip(reply.instance_ids, reply.instance_labels, strict=True)),
            intrinsics=camera_info_to_intrinsics(reply.camera_info),
            camera_pose=pose_to_matrix(reply.camera_pose),
            stamp=stamp.sec + stamp.nanosec * 1e-9,
            sites={
                name: np.array([p.x, p.y, p.z])
                for name, p in zip(reply.site_names, reply.site_positions, strict=True)
            },
        )
