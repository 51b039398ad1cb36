"""``perception``: find objects and points in the cameras, in 3D, with the results drawn for the VLM."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from maestro_agent.proxy.harness import Harness, retry, show, tool
from maestro_agent.proxy.registry import register_tool
from maestro_agent.proxy.robot import Robot
from maestro_agent.proxy.ros_client import RosClient
from maestro_agent.proxy.types import Detection, ImageCrop, Keypoint
from maestro_msgs.srv import Detect, Point
from maestro_tools.common import render
from maestro_tools.common.conversions import image_to_numpy, pose_to_matrix
from maestro_tools.common.errors import (
    BackendError,
    InvalidArgumentError,
    MaestroTimeoutError,
    NoDataError,
    NotFoundError,
    UnavailableError,
)
from maestro_tools.perception.objects import CameraFrame, lift_point, nearest_depth_pixel

DOWN = np.array([np.pi, 0.0, 0.0])
ZOOM_SIDE = 480  # a zoomed crop is enlarged (whole camera pixels) until its longer side reaches this
MAX_ZOOM = 4
# What another camera or another try can change; a part the keypointer does not know stays unknown.
POINT_RETRY = (NotFoundError, NoDataError, MaestroTimeoutError, UnavailableError, BackendError)


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
        self._zoomed: dict[str, CameraFrame] = {}  # camera -> the frame of its latest zoom
        # labels -> where the semantic map last saw them ("" = unknown), set by the semantic_map tool
        self.recall: Callable[[list[str]], str] | None = None
        # label -> the map's boxes of it (pose in the base frame, extent), most confident first, likewise
        self.remember: Callable[[str], list[tuple[np.ndarray, np.ndarray]]] | None = None
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
        if self._robot is not None:  # a grasp that follows attaches the object it holds
            self._robot._remember_seen(camera, [to_detection(d) for d in found])
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
        try:
            found, response = retry(
                self._harness.tries, lambda k: self._detect_once(labels, order[k % len(order)], masks)
            )
        except NotFoundError as exc:  # the harness says where the map last saw it
            where = self.recall(labels) if self._harness.enabled and self.recall and labels else ""
            if where:
                exc.args = (f"{exc}; {where}",)
            raise
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
        in the base frame: z up, x along the longer side with the yaw in [-90, 90) degrees ([-45, 45) when
        square, 0 when round), the same from either camera. NotFoundError lists what is visible."""
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
        down = robot.arm.down if robot.arm else DOWN  # the wrist's preferred yaw pointing down
        self._robot.move_gripper_to(position + np.array([0.0, 0.0, height]), down)
        return self.locate(label, hand)

    @tool("perception")
    def look(self, labels: str | Sequence[str] | None = None) -> list[Detection]:
        """Raise the hand camera to the robot's look poses (ahead and down, e.g. over a table top the
        detection camera cannot see; then turned left and right until ``labels`` are seen; on a robot
        without them it stays where it is) and detect ``labels`` (None: every object) from there, as
        detect() does. The arm moves."""
        robot = self._harness.robot
        poses = robot.arm.look_poses if self._robot is not None and robot.arm is not None else ()
        names = _labels(labels, allow_all=True)
        for pose in poses[:-1]:
            self._robot.move_joints(pose)
            try:
                return [to_detection(d) for d in self._detect_once(names, robot.hand_camera)[0]]
            except NotFoundError:
                continue
        if poses:
            self._robot.move_joints(poses[-1])
        return self.detect(labels, robot.hand_camera)

    @tool("perception")
    def point(self, description: str, camera: str = "", max_points: int = 1) -> list[Keypoint]:
        """Points matching a description such as "the top of the red cube" or "the handle of the mug", best
        first, each with its pixel and 3D position. Geometric parts (centre, top, bottom, left, right, front,
        back) work for any object; named parts (handle, hinge, peg tip, corner) only where the keypointer
        knows them (a VLM, or the simulator's truth): its error lists what it knows. For anything else,
        point yourself: zoom() on it, then point_at_pixel()."""
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

        points, response = retry(self._harness.tries, once, POINT_RETRY)
        if self._harness.renders and points:
            image = image_to_numpy(response.image)
            show(
                f"point {description!r}",
                render.draw_points(image, [p.pixel for p in points], [p.label for p in points]),
            )
        return points

    @tool("perception")
    def zoom(self, box: Sequence[float], camera: str = "") -> ImageCrop:
        """A close-up of ``camera``'s current image: the pixel box (x, y, width, height), e.g. a detection's
        ``box``, cut out at full resolution, enlarged and shown to you. Pick a pixel (u, v) in it and call
        point_at_pixel(u, v, crop=<this crop>) for its 3D position; crop.camera_pixel(u, v) is the pixel in
        the whole camera image."""
        camera = self._harness.check_camera(camera)
        values = [float(b) for b in box] if isinstance(box, list | tuple | np.ndarray) else []
        if len(values) != 4 or not all(math.isfinite(b) for b in values) or min(values[2:]) < 4:
            raise InvalidArgumentError(
                f"box must be (x, y, width, height) in pixels, 4 or more wide; got {box!r}"
            )
        frame = self._ros.frame(camera)
        height, width = frame.rgb.shape[:2]
        x0, y0 = max(0, int(values[0])), max(0, int(values[1]))
        x1, y1 = (
            min(width, int(math.ceil(values[0] + values[2]))),
            min(height, int(math.ceil(values[1] + values[3]))),
        )
        if x1 - x0 < 4 or y1 - y0 < 4:
            raise InvalidArgumentError(
                f"box {values} lies outside the {camera} camera's {width} x {height} image"
            )
        scale = int(max(1, min(MAX_ZOOM, ZOOM_SIDE // max(x1 - x0, y1 - y0))))
        image = cv2.resize(frame.rgb[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        self._zoomed[camera] = frame
        crop = ImageCrop(image, camera, (x0, y0), scale, frame.stamp)
        show(
            f"zoom on the {camera} camera's pixels u {x0}..{x1}, v {y0}..{y1}, {scale}x: the crop's pixel "
            f"(u, v) is about the camera's ({x0} + u/{scale}, {y0} + v/{scale})",
            image,
        )
        return crop

    @tool("perception")
    def point_at_pixel(self, u: float, v: float, camera: str = "", crop: ImageCrop | None = None) -> Keypoint:
        """The 3D base-frame position of the pixel (u, v) you pick in an image: of ``camera``'s current image
        (take it with robot.get_image(camera) if the robot moved), or of a zoom() ``crop`` (then u, v are the
        crop's pixels, and the image the crop came from is used). The depth there gives the point; a pixel
        without depth (too close or far, shiny, transparent) raises NoDataError naming the nearest one with
        depth. The point is drawn on the image and shown to you."""
        if not all(isinstance(c, numbers.Real) and math.isfinite(c) for c in (u, v)):
            raise InvalidArgumentError(f"u and v must be finite pixel coordinates; got ({u!r}, {v!r})")
        if crop is not None:
            if camera and self._harness.check_camera(camera) != crop.camera:
                raise InvalidArgumentError(f"the crop is from the {crop.camera} camera, not {camera}")
            camera, (u, v) = crop.camera, crop.camera_pixel(u, v)
            kept = self._zoomed.get(camera)
            frame = kept if kept is not None and kept.stamp == crop.stamp else self._ros.frame(camera)
        else:
            camera = self._harness.check_camera(camera)
            frame = self._ros.frame(camera)
        height, width = frame.depth.shape
        if not (0 <= u < width and 0 <= v < height):
            raise InvalidArgumentError(
                f"pixel ({u:.0f}, {v:.0f}) is outside the {camera} camera's {width} x {height} image "
                "(u: column from the left, v: row from the top)"
            )
        position = lift_point(frame, (u, v))
        if not np.isfinite(position).all():
            near = nearest_depth_pixel(frame, (u, v))
            hint = f"the nearest pixel with depth is {near}" if near else "no pixel within 30 has depth"
            raise NoDataError(
                f"no depth at pixel ({u:.0f}, {v:.0f}) in the {camera} camera (too close or far, shiny or "
                f"transparent); {hint}"
            )
        point = Keypoint(f"pixel ({u:.0f}, {v:.0f})", 1.0, (float(u), float(v)), position, camera)
        if self._harness.renders:
            label = "[" + ", ".join(f"{c:.3f}" for c in position) + "]"
            show(
                f"point_at_pixel ({u:.0f}, {v:.0f}) in the {camera} camera",
                render.draw_points(frame.rgb, [(u, v)], [label]),
            )
        return point


register_tool(
    "perception",
    ("cameras",),
    lambda ros, harness, built: Perception(ros, harness, built.get("robot")),
    group="S1",
)
