"""The ``detector`` node: ``detect`` (maestro_msgs/srv/Detect) -> labelled detections with masks and 3D poses.

Backend ``sim``: the simulator's ground-truth segmentation (``get_segmentation``) lifted to 3D with
its depth; exact masks, labels from the scene. Other backends (geometric, yolo, gemini) are planned
and refused by the ``backend`` parameter until they exist.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import RegionOfInterest
from std_msgs.msg import Header

from maestro_msgs.msg import Detection
from maestro_msgs.srv import Detect, GetSegmentation
from maestro_tools.common.conversions import (
    camera_info_to_intrinsics,
    image_to_numpy,
    matrix_to_pose,
    numpy_to_image,
    pose_to_matrix,
    vector3,
)
from maestro_tools.common.errors import MaestroError, MaestroTimeoutError, UnavailableError, error_from_code
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.spinning import wait_future_blocking
from maestro_tools.perception.objects import CameraFrame, ObjectDetection, detect_objects, visible_labels

BASE_FRAME = "base"


class DetectorNode(Node):
    def __init__(self) -> None:
        super().__init__("detector")
        declare(
            self,
            "backend",
            "sim",
            "Detection backend: sim (ground-truth segmentation of the simulator)",
            choices=("sim",),
            read_only=True,
        )
        self.default_camera = declare(
            self, "default_camera", "scene", "Camera used when a request names none"
        )
        self.timeout = declare(self, "timeout", 5.0, "Seconds to wait for the camera data", minimum=0.1)
        group = ReentrantCallbackGroup()
        self.segmentation = self.create_client(GetSegmentation, "get_segmentation", callback_group=group)
        self.create_service(Detect, "detect", self.on_detect, callback_group=group)

    def frame(self, camera: str) -> CameraFrame:
        """The camera's current frame with instance segmentation, from the simulator."""
        if not self.segmentation.wait_for_service(timeout_sec=self.timeout):
            raise UnavailableError(
                f"{self.segmentation.srv_name} is not available: the sim backend needs the sim "
                "node (or choose another backend)"
            )
        reply = wait_future_blocking(
            self.segmentation.call_async(GetSegmentation.Request(camera=camera)), self.timeout
        )
        if reply is None:
            raise MaestroTimeoutError(f"no segmentation from the {camera} camera within {self.timeout} s")
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
        )

    def on_detect(self, request: Detect.Request, response: Detect.Response) -> Detect.Response:
        camera = request.camera or self.default_camera
        try:
            frame = self.frame(camera)
            response.visible_labels = visible_labels(frame)
            detections = detect_objects(frame, list(request.labels))
        except MaestroError as exc:
            response.success, response.error_code, response.message = False, int(exc.code), str(exc)
            return response
        header = Header(frame_id=BASE_FRAME)
        header.stamp.sec = int(frame.stamp)
        header.stamp.nanosec = int((frame.stamp % 1) * 1e9)
        response.detections = [self.to_message(d, camera, header, request.with_masks) for d in detections]
        response.image = numpy_to_image(frame.rgb, "rgb8", header)
        response.image.header.frame_id = f"{camera}_camera_optical_frame"
        response.success = True
        response.message = f"{len(detections)} detection(s) in the {camera} camera"
        return response

    @staticmethod
    def to_message(detection: ObjectDetection, camera: str, header: Header, with_mask: bool) -> Detection:
        x, y, width, height = detection.box
        message = Detection(
            header=header,
            label=detection.label,
            score=detection.score,
            instance_id=detection.instance_id,
            camera=camera,
            has_3d=detection.has_3d,
            box=RegionOfInterest(x_offset=x, y_offset=y, width=width, height=height),
        )
        if detection.has_3d:
            message.pose = matrix_to_pose(detection.pose)
            message.extent = vector3(detection.extent)
        if with_mask:
            message.mask = numpy_to_image(detection.mask.astype(np.uint8) * 255, "mono8", header)
        return message


def main(args: Sequence[str] | None = None) -> int:
    return run_node(DetectorNode, args)


if __name__ == "__main__":
    sys.exit(main())
