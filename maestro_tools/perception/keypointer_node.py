"""The ``keypointer`` node: ``point`` (maestro_msgs/srv/Point) -> 2D and 3D points for a description.

Backends: ``geometric``, geometric parts (centre, top, bottom, left, right, front, back) of an object
found in the simulator's segmentation ("the top of the red block"); a named part ("the handle of the
mug") is refused with the parts it knows and the ways to get one. ``sim``, **privileged simulator
truth**: the geometric parts plus the simulator's named sites as exact named parts ("mug/handle",
"stand/peg_tip", "lower door/hinge", "towel/front_left_corner"); simulation only. ``gemini``, a VLM's
pointing (Gemini robotics conventions; ``vlm`` gemini or openai) lifted to 3D with depth: any part it
can see. ``auto`` follows the agent's VLM (``gemini_node.choose_backend``): the VLM when it is gemini
or openai, else ``offline_backend``. Requests are checked field by field first (description and
camera lengths, ``max_points`` at most ``MAX_POINTS``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from maestro_msgs.msg import Keypoint
from maestro_msgs.srv import Point
from maestro_tools.common import markers
from maestro_tools.common.conversions import numpy_to_image, seconds_to_time
from maestro_tools.common.errors import MaestroError
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.qos import LATCHED_QOS
from maestro_tools.common.render import project
from maestro_tools.common.validate import NAME_LIMIT, TEXT_LIMIT, answer_errors, count, text
from maestro_tools.perception.gemini_node import choose_backend
from maestro_tools.perception.keypoints import keypoint, sim_keypoints
from maestro_tools.perception.objects import CameraFrame
from maestro_tools.perception.sim_source import SimFrameSource
from maestro_tools.perception.topic_source import TopicFrameSource, optical_frame
from maestro_tools.robots.params import declare_robot

MAX_POINTS = 20


def check_request(request: Point.Request) -> None:
    """Refuse a malformed Point request, naming the field, its value and the valid values."""
    text("description", request.description, TEXT_LIMIT, required=True, example="the top of the bowl")
    text("camera", request.camera, NAME_LIMIT)
    count("max_points", request.max_points, MAX_POINTS, note="0 = 1")


class KeypointerNode(Node):
    def __init__(self) -> None:
        super().__init__("keypointer")
        self.profile = declare_robot(self)  # points are in its base frame (Point has no target frame)
        requested = declare(
            self,
            "backend",
            "geometric",
            "Keypoint backend: auto (the agent's VLM when vlm is gemini or openai, else offline_backend), "
            "geometric (geometric parts of the sim's segmented objects), sim (privileged simulator truth: "
            "geometric parts and the simulator's named sites, e.g. mug/handle; simulation only) or gemini "
            "(a VLM's pointing on the camera topics, lifted to 3D with depth; vlm gemini needs "
            "GEMINI_API_KEY)",
            choices=("auto", "geometric", "sim", "gemini"),
            read_only=True,
        )
        self.default_camera = declare(
            self, "default_camera", "scene", "Camera used when a request names none"
        )
        timeout = declare(self, "timeout", 5.0, "Seconds to wait for the camera data", minimum=0.1)
        backend, self.vision = choose_backend(self, requested, ("geometric", "sim"))
        group = ReentrantCallbackGroup()
        if self.vision is not None:
            cameras = declare(
                self,
                "cameras",
                ["scene", "wrist"],
                "Cameras whose topics the gemini backend reads",
                read_only=True,
            )
            self.frame = TopicFrameSource(self, group, cameras, timeout, base_frame=self.profile.base_frame)
        else:
            self.frame = SimFrameSource(self, group, timeout)
        self.sites = backend == "sim"
        self.create_service(Point, "point", self.on_point, callback_group=group)
        self.markers = self.create_publisher(MarkerArray, "keypointer/markers", LATCHED_QOS)

    @answer_errors
    def on_point(self, request: Point.Request, response: Point.Response) -> Point.Response:
        camera = request.camera or self.default_camera
        try:
            check_request(request)
            frame = self.frame(camera)
            if self.vision is not None:
                return self._vlm_points(request, response, frame, camera)
            if self.sites:
                found = sim_keypoints(frame, request.description, request.max_points or 1)
            else:
                found = [keypoint(frame, request.description)]
        except MaestroError as exc:
            response.success, response.error_code, response.message = False, int(exc.code), str(exc)
            return response
        header = Header(frame_id=self.profile.base_frame, stamp=seconds_to_time(frame.stamp))
        positions = np.array([f.position for f in found])
        pixels, in_front = project(positions, frame.intrinsics, frame.camera_pose)
        for item, pixel, visible in zip(found, pixels, in_front, strict=True):
            point = Keypoint(header=header, label=item.label, score=1.0, camera=camera, has_3d=True)
            point.u, point.v = (float(pixel[0]), float(pixel[1])) if visible else (-1.0, -1.0)
            point.position.x, point.position.y, point.position.z = (float(c) for c in item.position)
            response.points.append(point)
        self.markers.publish(markers.points("keypoints", [f.label for f in found], list(positions), header))
        response.image = self._image(frame, camera, header)
        response.success = True
        response.message = "; ".join(f"{f.label} on {f.object_label}" for f in found)
        return response

    def _image(self, frame: CameraFrame, camera: str, header: Header) -> Image:
        """The frame's colour image in the camera's optical frame (its own header: the points keep theirs)."""
        return numpy_to_image(
            frame.rgb, "rgb8", Header(frame_id=optical_frame(self.profile, camera), stamp=header.stamp)
        )

    def _vlm_points(
        self, request: Point.Request, response: Point.Response, frame: CameraFrame, camera: str
    ) -> Point.Response:
        header = Header(frame_id=self.profile.base_frame, stamp=seconds_to_time(frame.stamp))
        for label, (u, v), position in self.vision.point(frame, request.description, request.max_points or 1):
            point = Keypoint(header=header, label=label, score=1.0, camera=camera, u=float(u), v=float(v))
            point.has_3d = bool(np.isfinite(position).all())
            if point.has_3d:
                point.position.x, point.position.y, point.position.z = (float(c) for c in position)
            response.points.append(point)
        found = [p for p in response.points if p.has_3d]
        positions = [np.array([p.position.x, p.position.y, p.position.z]) for p in found]
        self.markers.publish(markers.points("keypoints", [p.label for p in found], positions, header))
        response.image = self._image(frame, camera, header)
        response.success, response.message = (
            True,
            f"{len(response.points)} point(s) for {request.description!r}",
        )
        return response


def main(args: Sequence[str] | None = None) -> int:
    return run_node(KeypointerNode, args)


if __name__ == "__main__":
    sys.exit(main())
