"""``perception``: find objects and points in the cameras, in 3D, with the results drawn for the VLM."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from maestro_agent.proxy.harness import Harness, retry, show, tool
from maestro_agent.proxy.registry import register_tool
from maestro_agent.proxy.robot import Robot
from maestro_agent.proxy.ros_client import RosClient
from maestro_agent.proxy.types import Detection, Keypoint
from maestro_msgs.srv import Detect, Point
from maestro_tools.common import render
from maestro_tools.common.conversions import image_to_numpy, pose_to_matrix
from maestro_tools.common.errors import InvalidArgumentError, NoDataError, NotFoundError

DOWN = np.array([np.pi, 0.0, 0.0])


def to_detection(message: object) -> Detection:
    pose = pose_to_matrix(message.pose)
    box = message.box
    return Detection(
        label=message.label,
        score=float(message.score),
        position=pose[:3, 3].copy(),
        extent=np.array([message.extent.x, message.extent.y, message.extent.z]),
        rotation=pose[:3, :3].copy(),
        box=(int(box.x_offset), int(box.y_offset), int(box.width), int(box.height)),
        camera=message.camera,
        has_3d=bool(message.has_3d),
    )


def _labels(labels: str | Sequence[str] | None, allow_all: bool = False) -> list[str]:
    if labels is None and allow_all:
        return []  # every object the detector can name
    names = [labels] if isinstance(labels, str) else list(labels or [])
    if not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise InvalidArgumentError(f"labels must be a non-empty string or list of strings; got {labels!r}")
    return names


class Perception:
    """Object detection and pointing. Each result is drawn on its camera image and shown to you."""

    module = "perception"

    def __init__(self, ros: RosClient | None, harness: Harness, robot: Robot | None) -> None:
        self._ros, self._harness, self._robot = ros, harness, robot
        if ros is not None:
            self._detect = ros.service(Detect, "detect")
            self._point = ros.service(Point, "point")

    def _detect_once(
        self, labels: list[str], camera: str, masks: bool = False
    ) -> tuple[list[object], object]:
        camera = self._harness.check_camera(camera)
        request = Detect.Request(labels=labels, camera=camera, with_masks=masks)
        response = self._ros.call(self._detect, request, self._harness.service_timeout_s)
        found = [d for d in response.detections if not self._harness.enabled or self._valid(d)]
        if not found:
            raise NotFoundError(
                f"no valid 3D detection of {', '.join(labels) or 'any object'} in the {camera} camera; "
                f"visible: {', '.join(response.visible_labels) or 'nothing'}"
            )
        return found, response

    @staticmethod
    def _valid(message: object) -> bool:
        position = message.pose.position
        return bool(message.has_3d) and bool(np.isfinite([position.x, position.y, position.z]).all())

    def _cameras(self, camera: str) -> list[str]:
        camera = self._harness.check_camera(camera)
        others = [c for c in self._harness.robot.camera_names if c != camera]
        return [camera, *others, camera]

    def _find(self, labels: list[str], camera: str, masks: bool = False) -> list[object]:
        """Robust detection (other camera, then again) returning the raw messages; used by grasping."""
        order = self._cameras(camera)
        found, response = retry(
            self._harness.tries, lambda k: self._detect_once(labels, order[k % len(order)], masks)
        )
        if self._harness.renders:
            image = image_to_numpy(response.image)
            show(
                f"detect {', '.join(labels) or 'all'} ({found[0].camera} camera)",
                render.draw_detections(
                    image,
                    [d.label for d in found],
                    [(d.box.x_offset, d.box.y_offset, d.box.width, d.box.height) for d in found],
                    scores=[d.score for d in found],
                ),
            )
        return found

    @tool("perception")
    def detect(self, labels: str | Sequence[str] | None, camera: str = "") -> list[Detection]:
        """All detections of ``labels`` (e.g. ["tennis ball", "bowl"]; None = every object) in ``camera``
        (empty: the robot's detection camera), best first, with 3D centre (position), size (extent) and axes
        in the base frame. NotFoundError lists what is visible."""
        return [to_detection(d) for d in self._find(_labels(labels, allow_all=True), camera)]

    @tool("perception")
    def locate(self, label: str, camera: str = "") -> Detection:
        """The best detection of one object, e.g. perception.locate("bowl").position."""
        return self.detect([label], camera)[0]

    @tool("perception")
    def get_position_from_labels(self, labels: Sequence[str], camera: str = "") -> dict[str, np.ndarray]:
        """{label: 3D centre} for each label, e.g. {"bowl": array([0.5, 0.1, 0.03])}."""
        return {label: self.locate(label, camera).position for label in _labels(labels)}

    @tool("perception")
    def rescan_wrist(self, label: str, height: float = 0.25) -> Detection:
        """Move the wrist camera above the object (``height`` metres over it, gripper down) and detect it
        again from close by: a more precise position before grasping. The arm moves."""
        if not 0.1 <= height <= 0.5:
            raise InvalidArgumentError(f"height must be 0.1..0.5 m; got {height}")
        robot = self._harness.robot
        hand = robot.hand_camera
        position = self.locate(label, robot.detection_camera).position
        self._robot.move_gripper_to(position + np.array([0.0, 0.0, height]), DOWN)
        return self.locate(label, hand)

    @tool("perception")
    def point(self, description: str, camera: str = "", max_points: int = 1) -> list[Keypoint]:
        """Points matching a description such as "the handle of the mug" or "the top of the red cube",
        best first, each with its pixel and 3D position."""
        if not isinstance(description, str) or not description.strip():
            raise InvalidArgumentError("description must be a non-empty string, e.g. 'the handle of the mug'")

        def once(attempt: int) -> tuple[list[Keypoint], object]:
            order = self._cameras(camera)
            request = Point.Request(
                description=description, camera=order[attempt % len(order)], max_points=max_points
            )
            response = self._ros.call(self._point, request, self._harness.service_timeout_s)
            points = [
                Keypoint(
                    label=p.label,
                    score=float(p.score),
                    pixel=(float(p.u), float(p.v)),
                    position=np.array([p.position.x, p.position.y, p.position.z])
                    if p.has_3d
                    else np.full(3, np.nan),
                    camera=p.camera,
                )
                for p in response.points
            ]
            if self._harness.enabled and not any(np.isfinite(p.position).all() for p in points):
                raise NoDataError(f"no point with depth for {description!r} in the {request.camera} camera")
            return points, response

        points, response = retry(self._harness.tries, once)
        if self._harness.renders and points:
            image = image_to_numpy(response.image)
            show(
                f"point {description!r}",
                render.draw_points(image, [p.pixel for p in points], [p.label for p in points]),
            )
        return points


register_tool(
    "perception", ("cameras",), lambda ros, harness, built: Perception(ros, harness, built.get("robot"))
)
