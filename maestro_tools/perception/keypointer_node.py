"""The ``keypointer`` node: ``point`` (maestro_msgs/srv/Point) -> 2D and 3D points for a description.

Backend ``geometric``: named geometric parts (centre, top, bottom, left, right, front, back) of an
object found in the simulator's segmentation ("the top of the red block"). The Gemini pointing
backend arrives with the agent's Gemini client.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from maestro_msgs.msg import Keypoint
from maestro_msgs.srv import Point
from maestro_tools.common import markers
from maestro_tools.common.conversions import numpy_to_image
from maestro_tools.common.errors import MaestroError
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.qos import LATCHED_QOS
from maestro_tools.common.render import project
from maestro_tools.perception.keypoints import keypoint
from maestro_tools.perception.sim_source import SimFrameSource


class KeypointerNode(Node):
    def __init__(self) -> None:
        super().__init__("keypointer")
        declare(
            self,
            "backend",
            "geometric",
            "Keypoint backend: geometric (named parts of segmented objects)",
            choices=("geometric",),
            read_only=True,
        )
        self.default_camera = declare(
            self, "default_camera", "scene", "Camera used when a request names none"
        )
        timeout = declare(self, "timeout", 5.0, "Seconds to wait for the camera data", minimum=0.1)
        group = ReentrantCallbackGroup()
        self.frame = SimFrameSource(self, group, timeout)
        self.create_service(Point, "point", self.on_point, callback_group=group)
        self.markers = self.create_publisher(MarkerArray, "keypointer/markers", LATCHED_QOS)

    def on_point(self, request: Point.Request, response: Point.Response) -> Point.Response:
        camera = request.camera or self.default_camera
        try:
            frame = self.frame(camera)
            found = keypoint(frame, request.description)
        except MaestroError as exc:
            response.success, response.error_code, response.message = False, int(exc.code), str(exc)
            return response
        header = Header(frame_id="base")
        header.stamp.sec, header.stamp.nanosec = int(frame.stamp), int((frame.stamp % 1) * 1e9)
        pixel, in_front = project(found.position, frame.intrinsics, frame.camera_pose)
        point = Keypoint(header=header, label=found.label, score=1.0, camera=camera, has_3d=True)
        point.u, point.v = (float(pixel[0, 0]), float(pixel[0, 1])) if in_front[0] else (-1.0, -1.0)
        point.position.x, point.position.y, point.position.z = (float(c) for c in found.position)
        response.points = [point]
        self.markers.publish(markers.points("keypoints", [found.label], [found.position], header))
        response.image = numpy_to_image(frame.rgb, "rgb8", header)
        response.image.header.frame_id = f"{camera}_camera_optical_frame"
        response.success, response.message = True, f"{found.label} on {found.object_label}"
        return response


def main(args: Sequence[str] | None = None) -> int:
    return run_node(KeypointerNode, args)


if __name__ == "__main__":
    sys.exit(main())
