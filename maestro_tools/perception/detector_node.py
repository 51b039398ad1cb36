"""The ``detector`` node: ``detect`` (maestro_msgs/srv/Detect) -> labelled detections with masks and 3D poses.

Backends: ``sim``, **privileged simulator truth**, not perception: the simulator's ground-truth
segmentation (``get_segmentation``) lifted to 3D with its depth, exact masks and the scene's own labels
(which name what the cameras show: a recoloured "red block" is reported by its new colour); simulation
only, for tests and offline runs. ``geometric``, open3d clustering of the camera topics' depth with
colour and size names (no learned weights; real robots too). ``gemini``, a VLM's boxes (Gemini
robotics conventions; ``vlm`` gemini or openai) lifted to 3D with depth. ``yolo``, ultralytics
open-vocabulary weights. ``auto`` follows the agent's VLM (``gemini_node.choose_backend``): the VLM
when it is gemini or openai, else ``offline_backend``. 3D boxes have a canonical yaw, the same from
every camera (``objects.box_pose``). Every call's outcome goes out on ``detector/frames``
(maestro_msgs/DetectionFrame: the labels asked for, the detections, depth, camera pose and image) while
something listens (the semantic mapper); a call that found nothing of its one label goes out too,
empty, as evidence of absence. Requests are checked field by field first (label count and
lengths, camera name length, ``min_score`` in [0, 1]); ``min_score`` above 0 drops the detections
scoring below it (yolo: its threshold).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import RegionOfInterest
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from maestro_msgs.msg import Detection, DetectionFrame
from maestro_msgs.srv import Detect
from maestro_tools.common import markers
from maestro_tools.common.conversions import (
    intrinsics_to_camera_info,
    matrix_to_pose,
    numpy_to_image,
    seconds_to_time,
    vector3,
)
from maestro_tools.common.errors import MaestroError, NotFoundError
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.qos import LATCHED_QOS
from maestro_tools.common.validate import LABEL_LIMIT, NAME_LIMIT, answer_errors, number, text, texts
from maestro_tools.perception import geometric
from maestro_tools.perception.gemini_node import choose_backend
from maestro_tools.perception.objects import CameraFrame, ObjectDetection, detect_objects, visible_labels
from maestro_tools.perception.sim_source import SimFrameSource
from maestro_tools.perception.topic_source import TopicFrameSource, optical_frame
from maestro_tools.perception.yolo_backend import YoloDetector, load_model
from maestro_tools.robots.params import declare_robot

MAX_LABELS = 32


def check_request(request: Detect.Request) -> None:
    """Refuse a malformed Detect request, naming the field, its value and the valid values."""
    texts("labels", request.labels, LABEL_LIMIT, MAX_LABELS, example="tennis ball")
    text("camera", request.camera, NAME_LIMIT)
    number("min_score", request.min_score, 0.0, 1.0, note="0 = the backend's default threshold")


def above(detections: list[ObjectDetection], min_score: float, camera: str) -> list[ObjectDetection]:
    """The detections scoring at least ``min_score``; NotFoundError when that drops every one."""
    kept = [d for d in detections if d.score >= min_score]
    if detections and not kept:
        best = max(d.score for d in detections)
        raise NotFoundError(
            f"no detection in the {camera} camera scores min_score {min_score:g} or more (best "
            f"{best:.2f}); lower min_score"
        )
    return kept


class DetectorNode(Node):
    def __init__(self) -> None:
        super().__init__("detector")
        self.profile = declare_robot(self)  # answers are in its base frame (Detect has no target frame)
        requested = declare(
            self,
            "backend",
            "sim",
            "Detection backend: auto (the agent's VLM when vlm is gemini or openai, else offline_backend), "
            "sim (privileged simulator truth: ground-truth segmentation and labels; simulation only), "
            "geometric (open3d: table plane, clusters, colour and size names, from the camera topics), "
            "gemini (a VLM's boxes from the camera topics, lifted to 3D with depth; vlm gemini needs "
            "GEMINI_API_KEY) or yolo (ultralytics open-vocabulary weights from the 'weights' parameter; "
            "optional extra [yolo])",
            choices=("auto", "sim", "geometric", "gemini", "yolo"),
            read_only=True,
        )
        self.default_camera = declare(
            self, "default_camera", "scene", "Camera used when a request names none"
        )
        self.timeout = declare(self, "timeout", 5.0, "Seconds to wait for the camera data", minimum=0.1)
        self.backend, vision = choose_backend(self, requested, ("sim", "geometric", "yolo"))
        self.vision: Any = vision  # VLMVision, YoloDetector, or None
        group = ReentrantCallbackGroup()
        if self.backend == "sim":
            self.frame = SimFrameSource(self, group, self.timeout)
        else:
            cameras = declare(
                self,
                "cameras",
                ["scene", "wrist"],
                "Cameras whose topics the geometric, gemini and yolo backends read",
                read_only=True,
            )
            self.frame = TopicFrameSource(
                self, group, cameras, self.timeout, base_frame=self.profile.base_frame
            )
        if self.backend == "yolo":
            weights = declare(
                self, "weights", "", "yolo: local YOLO-World / YOLOE weights file", read_only=True
            )
            self.vision = YoloDetector(load_model(weights))
        self.create_service(Detect, "detect", self.on_detect, callback_group=group)
        self.markers = self.create_publisher(MarkerArray, "detector/markers", LATCHED_QOS)
        self.frames = self.create_publisher(DetectionFrame, "detector/frames", 5)

    @answer_errors
    def on_detect(self, request: Detect.Request, response: Detect.Response) -> Detect.Response:
        camera = request.camera or self.default_camera
        frame: CameraFrame | None = None
        try:
            check_request(request)
            frame = self.frame(camera)
            if self.backend == "yolo":
                detections = self.vision.detect(frame, list(request.labels), request.min_score)
                response.visible_labels = [d.label for d in detections]
            elif self.vision is not None:
                detections = self.vision.detect(frame, list(request.labels))
                response.visible_labels = [d.label for d in detections]
            elif frame.instances is None:  # geometric: names come from colour and size
                detections = geometric.detect(
                    frame.rgb, frame.depth, frame.intrinsics, frame.camera_pose, list(request.labels)
                )
                response.visible_labels = [d.label for d in detections] if not request.labels else []
            else:
                response.visible_labels = visible_labels(frame)
                detections = detect_objects(frame, list(request.labels))
            if request.min_score > 0:
                detections = above(detections, request.min_score, camera)
        except MaestroError as exc:
            response.success, response.error_code, response.message = False, int(exc.code), str(exc)
            if isinstance(exc, NotFoundError) and frame is not None and len(request.labels) == 1:
                self.publish_frame(frame, camera, list(request.labels), [])  # looked for, not there
            return response
        header = Header(frame_id=self.profile.base_frame, stamp=seconds_to_time(frame.stamp))
        # The images' own header: messages share assigned fields, so one header cannot serve both frames.
        in_image = Header(frame_id=optical_frame(self.profile, camera), stamp=header.stamp)
        masks = in_image if request.with_masks else None
        response.detections = [self.to_message(d, camera, header, masks) for d in detections]
        framed = response.detections
        if not request.with_masks and self.frames.get_subscription_count():  # the map fits masks' points
            framed = [self.to_message(d, camera, header, in_image) for d in detections]
        self.publish_frame(frame, camera, list(request.labels), framed)
        found = [d for d in detections if d.has_3d]
        self.markers.publish(
            markers.boxes(
                "detections",
                [d.label for d in found],
                [d.pose for d in found],
                [d.extent for d in found],
                header,
            )
        )
        response.image = numpy_to_image(frame.rgb, "rgb8", in_image)
        response.success = True
        response.message = f"{len(detections)} detection(s) in the {camera} camera"
        return response

    def publish_frame(
        self, frame: CameraFrame, camera: str, labels: list[str], detections: list[Detection]
    ) -> None:
        """The call's DetectionFrame on detector/frames, when anything subscribes (it carries images)."""
        if self.frames.get_subscription_count() == 0:
            return
        stamp = seconds_to_time(frame.stamp)
        in_image = Header(frame_id=optical_frame(self.profile, camera), stamp=stamp)
        height, width = frame.depth.shape
        self.frames.publish(
            DetectionFrame(
                header=Header(frame_id=self.profile.base_frame, stamp=stamp),
                camera=camera,
                labels=labels,
                detections=detections,
                camera_pose=matrix_to_pose(frame.camera_pose),
                depth=numpy_to_image(np.asarray(frame.depth, dtype=np.float32), "32FC1", in_image),
                camera_info=intrinsics_to_camera_info(frame.intrinsics, width, height, in_image),
                image=numpy_to_image(frame.rgb, "rgb8", in_image),
            )
        )

    @staticmethod
    def to_message(
        detection: ObjectDetection, camera: str, header: Header, mask_header: Header | None
    ) -> Detection:
        """The Detection message; its mask (in ``mask_header``, the image's frame) when one is given."""
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
        if mask_header is not None:
            message.mask = numpy_to_image(detection.mask.astype(np.uint8) * 255, "mono8", mask_header)
        return message


def main(args: Sequence[str] | None = None) -> int:
    return run_node(DetectorNode, args)


if __name__ == "__main__":
    sys.exit(main())
