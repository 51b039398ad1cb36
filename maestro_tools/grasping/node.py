"""The ``grasp_planner`` node: ``plan_grasp`` (maestro_msgs/srv/PlanGrasp) -> ranked grasps.

Takes the object as a detection (pose + extent, from ``detect``), as a point cloud in the base frame,
or by its label alone: then the detector node (``detect_service``) finds it, in the camera the request's
detection names or the detector's default one. Every field is checked first (``requests.py``).
Proposes top-down grasps across its box axes (and tilted ones where the robot's profile lists grasp
tilts: ``tilted.py``), antipodal grasps on a cloud, and grasps on the object's
parts (``parts.py``: rim, handle, flat, cloth_corner) from its points: the cloud, or the detection's mask
lifted with its camera's depth; where none of the whole object's grasps is usable, its narrow top's
(``proposals.py``: a bear's head). With
``check_reachability`` it keeps only grasps whose grasp and pre-grasp (``pregrasp_height`` above) have
IK solutions and, when the detection names its camera, whose open gripper does not sweep through the
scene's depth points on the way in (a hand camera's view of the gripper itself is dropped).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

import numpy as np
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from maestro_msgs.msg import Detection, Grasp
from maestro_msgs.srv import Detect, PlanGrasp
from maestro_tools.common import markers
from maestro_tools.common.conversions import (
    image_to_numpy,
    matrix_to_pose,
    pointcloud2_to_points,
    pose_to_matrix,
    vector3,
)
from maestro_tools.common.errors import (
    CollisionError,
    InvalidArgumentError,
    MaestroError,
    MaestroTimeoutError,
    NoDataError,
    UnavailableError,
    UnreachableError,
    error_from_code,
)
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.qos import LATCHED_QOS
from maestro_tools.common.spinning import wait_future_blocking
from maestro_tools.common.surfaces import tops_beneath
from maestro_tools.common.validate import answer_errors, quote
from maestro_tools.grasping.collision import collision_free, outside_box
from maestro_tools.grasping.parts import pregrasp_opening
from maestro_tools.grasping.proposals import box_grasps, narrow_top_grasps, proposals, usable_or_narrow
from maestro_tools.grasping.requests import check_detection, check_request
from maestro_tools.grasping.top_down import GraspCandidate, stand_on_support
from maestro_tools.motion.kinematics import ArmKinematics
from maestro_tools.perception.cloud import depth_cloud, scene_points
from maestro_tools.perception.objects import CameraFrame, object_box
from maestro_tools.perception.topic_source import TopicFrameSource
from maestro_tools.robots.model import RobotModel
from maestro_tools.robots.params import declare_robot, declare_surfaces


class GraspPlannerNode(Node):
    def __init__(self) -> None:
        super().__init__("grasp_planner")
        self.profile = declare_robot(self)
        self.profile.require("gripper")
        self.gripper = self.profile.gripper
        self.robot_model = RobotModel(self.profile, declare_surfaces(self))
        self.backend = declare(
            self,
            "backend",
            "both",
            "Grasp backend: top_down (box-aligned), antipodal (sampled on a cloud), or both (antipodal too "
            "when the request carries a cloud)",
            choices=("top_down", "antipodal", "both"),
            read_only=True,
        )
        self.samples = declare(self, "antipodal_samples", 500, "Contact points sampled per cloud", minimum=10)
        self.max_grasps = declare(
            self, "max_grasps", 4, "Grasps returned when a request asks for 0", minimum=1
        )
        self.pregrasp_height = declare(
            self,
            "pregrasp_height",
            0.1,
            "Height above the grasp checked for reachability, m",
            minimum=0.0,
            maximum=0.3,
        )
        self.collision_check = declare(
            self,
            "collision_check",
            True,
            "Drop grasps whose approach sweeps through the camera's scene points",
        )
        self.parts = declare(
            self,
            "part_grasps",
            True,
            "Also propose grasps on the object's parts (rim, handle, flat, cloth_corner) from its points",
        )
        self.timeout = declare(self, "timeout", 5.0, "Seconds to wait for a camera frame", minimum=0.1)
        on_hand = [c.name for c in self.profile.cameras if c.mjcf_camera] or [""]
        self.hand_cameras = declare(
            self,
            "hand_cameras",
            on_hand,
            "Cameras on the hand: their view of the gripper itself is dropped",
        )
        self.hand_camera_min_depth = declare(
            self, "hand_camera_min_depth", 0.15, "Hand cameras: depth below which points are the gripper, m",
            minimum=0.0, maximum=1.0,
        )  # fmt: skip
        self.kinematics = ArmKinematics(self.robot_model)
        self._lock = threading.Lock()
        self._group = ReentrantCallbackGroup()
        cameras = declare(
            self,
            "cameras",
            list(self.profile.camera_names),
            "Cameras a detection may come from (collision check)",
            read_only=True,
        )
        self.frames = TopicFrameSource(
            self, self._group, cameras, self.timeout, on_demand=True, base_frame=self.profile.base_frame
        )
        detect_service = declare(
            self, "detect_service", "detect", "The detector's Detect service, for requests with a label only"
        )
        self.detect_timeout = declare(
            self, "detect_timeout", 10.0, "Seconds to wait for the detector's answer", minimum=0.1
        )
        self.detector = self.create_client(Detect, detect_service, callback_group=self._group)
        self.create_service(PlanGrasp, "plan_grasp", self.on_plan, callback_group=self._group)
        self.markers = self.create_publisher(MarkerArray, "grasp_planner/markers", LATCHED_QOS)

    def detect(self, label: str, camera: str) -> Detection:
        """The best 3D detection of ``label`` from the detector node (``camera`` empty: its default)."""
        where = f"the {camera} camera" if camera else "the detector's default camera"
        if not self.detector.wait_for_service(timeout_sec=self.detect_timeout):
            raise UnavailableError(
                f"{self.detector.srv_name} is not available to find {quote(label)}; start the detector, "
                "or give the object as a detection or a point cloud"
            )
        request = Detect.Request(labels=[label], camera=camera, with_masks=self.parts)
        reply = wait_future_blocking(self.detector.call_async(request), self.detect_timeout)
        if reply is None:
            raise MaestroTimeoutError(f"the detector did not answer within {self.detect_timeout:g} s")
        if not reply.success:
            raise error_from_code(reply.error_code, reply.message)
        found = [d for d in reply.detections if d.has_3d]
        if not found:
            raise NoDataError(f"the detector saw {quote(label)} in {where} without depth; try another camera")
        check_detection(found[0], self.profile.base_frame, "the detector's detection")
        return found[0]

    def the_object(self, request: PlanGrasp.Request) -> Detection:
        """The request's detection, or one the detector makes from the label when it carries no 3D data
        and there is no cloud (the cloud then defines the object)."""
        detection = request.detection
        if detection.has_3d or request.cloud.width * request.cloud.height > 0:
            return detection
        label = request.label or detection.label
        if not label.strip():
            raise InvalidArgumentError(
                "give the object as a label (the detector finds it), a detection with 3D data (from "
                "detect) or a point cloud in the base frame"
            )
        return self.detect(label, detection.camera)

    def object_box(
        self, request: PlanGrasp.Request, detection: Detection
    ) -> tuple[np.ndarray, np.ndarray, str, np.ndarray | None]:
        """The object's box pose, extent, label, and its points when the request carries a cloud."""
        if request.cloud.width * request.cloud.height > 0:
            try:
                points = pointcloud2_to_points(request.cloud)
            except MaestroError:
                raise
            except (ValueError, TypeError) as exc:  # inconsistent fields, offsets or sizes
                raise InvalidArgumentError(f"the cloud is malformed: {exc}") from None
            if len(points) < 10:
                raise InvalidArgumentError("the cloud has fewer than 10 valid points")
            pose, extent = object_box(points)
            return pose, extent, request.label, points
        extent = detection.extent
        return (
            pose_to_matrix(detection.pose),
            np.array([extent.x, extent.y, extent.z]),
            detection.label or request.label,
            None,
        )

    def scene(self, camera: str) -> tuple[CameraFrame | None, str]:
        """The detection's camera frame for the collision check, or why there is none."""
        if not camera or not self.collision_check:
            return None, "no camera in the detection" if not camera else "collision_check is off"
        try:
            return self.frames.grab(camera), ""
        except MaestroError as exc:
            return None, str(exc)

    def mask_points(self, detection: Detection, frame: CameraFrame | None) -> np.ndarray | None:
        """The detection's mask lifted with its camera's current depth (base frame); None without a mask,
        a camera frame of the mask's size, or 10 points. A fresh frame matches the mask while the camera
        and the object stay still (the scene camera; the hand camera between moves)."""
        if detection.mask.width * detection.mask.height == 0 or not detection.camera:
            return None
        if frame is None or frame.camera != detection.camera:
            try:
                frame = self.frames.grab(detection.camera)
            except MaestroError:
                return None
        try:
            mask = image_to_numpy(detection.mask) > 0
        except MaestroError:
            return None
        if mask.ndim != 2 or mask.shape != frame.depth.shape:
            return None
        points = frame.base_points(mask)
        return points if len(points) >= 10 else None

    def reachable(self, grasp: GraspCandidate) -> bool:
        """IK reaches the grasp from its pre-grasp: ``pregrasp_height`` above it, or back along the
        approach for a tilted grasp (as execution moves in)."""
        pregrasp = grasp.pose.copy()
        if grasp.strategy == "tilted":
            pregrasp[:3, 3] -= grasp.approach * self.pregrasp_height
        else:
            pregrasp[2, 3] += self.pregrasp_height
        with self._lock:
            try:
                seed = self.kinematics.solve(pregrasp, self.robot_model.home).q
                self.kinematics.solve(grasp.pose, seed)
            except (UnreachableError, CollisionError):
                return False
        return True

    def usable(
        self,
        candidates: list[GraspCandidate],
        request: PlanGrasp.Request,
        frame: CameraFrame | None,
        pose: np.ndarray,
        extent: np.ndarray,
        label: str,
    ) -> list[Grasp]:
        """The candidates whose open gripper keeps clear of the scene (CollisionError if none does) and,
        with ``check_reachability``, that the arm reaches; as messages, best first."""
        if request.check_reachability and frame is not None and self.collision_check:
            near = self.hand_camera_min_depth if frame.camera in self.hand_cameras else 0.0
            scene = scene_points(depth_cloud(frame, near), self.robot_model.surfaces)
            around = outside_box(scene, pose, extent)  # a tilted grasp's fingers may brush the object
            gripper = self.gripper
            free = [
                c
                for c in candidates
                if collision_free(
                    [c],
                    around if c.strategy == "tilted" else scene,
                    gripper.volumes,
                    self.pregrasp_height,
                    opening=lambda c: pregrasp_opening(c.strategy, c.width, gripper.max_width),
                    max_width=gripper.max_width,
                )
            ]
            if not free:
                raise CollisionError(
                    f"all {len(candidates)} grasp(s) on {label or 'the object'} would sweep the open "
                    "gripper through other objects; clear the space around it or try the other camera"
                )
            candidates = free
        grasps = []
        for candidate in candidates:
            reachable = self.reachable(candidate) if request.check_reachability else False
            if request.check_reachability and not reachable:
                continue
            grasps.append(
                Grasp(
                    pose=matrix_to_pose(candidate.pose),
                    approach=vector3(candidate.approach),
                    width=candidate.width,
                    score=candidate.score,
                    strategy=candidate.strategy,
                    object_label=label,
                    reachable=reachable,
                )
            )
        return grasps

    @answer_errors
    def on_plan(self, request: PlanGrasp.Request, response: PlanGrasp.Response) -> PlanGrasp.Response:
        try:
            check_request(request, self.profile.base_frame, self.gripper.max_width)
            detection = self.the_object(request)
            pose, extent, label, points = self.object_box(request, detection)
            beneath = tops_beneath(pose[:3, 3], self.robot_model.surfaces)
            pose, extent = stand_on_support(pose, extent, beneath)  # a box seen from above: to the table
            frame, no_scene = self.scene(detection.camera) if request.check_reachability else (None, "")
            max_width = request.max_width or self.gripper.max_width  # checked: within the gripper's opening
            if self.backend == "antipodal" and points is None:
                raise InvalidArgumentError("the antipodal backend needs the object as a point cloud")
            seen = self.mask_points(detection, frame) if self.parts and points is None else points
            gripper, arm = self.gripper, self.profile.arm
            boxes = self.backend != "antipodal"
            whole = box_grasps(pose, extent, max_width, gripper, arm) if boxes else []
            narrow = (
                narrow_top_grasps(seen, max_width, gripper, arm)
                if boxes and self.parts and seen is not None
                else []
            )
            samples = self.samples if self.backend != "top_down" else 0
            parts_seen = seen if self.parts else None
            candidates = proposals(whole, narrow, points, parts_seen, max_width, gripper, samples)
            if not candidates:
                raise UnreachableError(
                    f"the object ({np.round(extent[:2], 3).tolist()} m across, as its box is seen) does "
                    f"not fit the gripper's {max_width} m opening with 1 cm to spare on either side and "
                    "shows no rim, handle, flat side, cloth corner or narrow top to pinch; a closer view "
                    "(the hand camera) measures it better"
                )
            grasps = usable_or_narrow(
                candidates, whole, narrow, lambda cs: self.usable(cs, request, frame, pose, extent, label)
            )
            if not grasps:
                raise UnreachableError(
                    f"none of {len(candidates) + (len(narrow) if whole else 0)} grasp(s) is reachable: the "
                    f"object at {np.round(pose[:3, 3], 3).tolist()} is too far or too low"
                )
        except MaestroError as exc:
            response.success, response.error_code, response.message = False, int(exc.code), str(exc)
            return response
        for grasp in grasps:
            grasp.header.frame_id = self.profile.base_frame
        response.grasps = grasps[: request.max_grasps or self.max_grasps]
        self.markers.publish(
            markers.grippers(
                "grasps",
                [pose_to_matrix(g.pose) for g in response.grasps],
                [g.width for g in response.grasps],
                Header(frame_id=self.profile.base_frame),
            )
        )
        checked = (
            ""
            if not request.check_reachability or not no_scene
            else f" (no scene collision check: {no_scene})"
        )
        response.success, response.message = (
            True,
            f"{len(response.grasps)} grasp(s) for {label or 'the object'}{checked}",
        )
        return response


def main(args: Sequence[str] | None = None) -> int:
    return run_node(GraspPlannerNode, args)


if __name__ == "__main__":
    sys.exit(main())
