"""The ``grasp_planner`` node: ``plan_grasp`` (maestro_msgs/srv/PlanGrasp) -> ranked grasps.

Takes the object as a detection (pose + extent, from ``detect``) or as a point cloud in the base
frame, proposes top-down grasps across its box axes, and with ``check_reachability`` keeps only
those whose grasp and pre-grasp (``pregrasp_height`` above) have IK solutions. Antipodal sampling on
clouds with normals is planned (issue 4) and not built yet.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

import numpy as np
from rclpy.node import Node
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from maestro_msgs.msg import Grasp
from maestro_msgs.srv import PlanGrasp
from maestro_tools.common import markers
from maestro_tools.common.conversions import matrix_to_pose, pointcloud2_to_points, pose_to_matrix, vector3
from maestro_tools.common.errors import InvalidArgumentError, MaestroError, UnreachableError
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.qos import LATCHED_QOS
from maestro_tools.grasping.antipodal import antipodal_grasps
from maestro_tools.grasping.top_down import GRIPPER_MAX_WIDTH, GraspCandidate, top_down_grasps
from maestro_tools.motion.kinematics import ArmKinematics
from maestro_tools.perception.objects import box_pose
from maestro_tools.sim.scene import HOME


class GraspPlannerNode(Node):
    def __init__(self) -> None:
        super().__init__("grasp_planner")
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
        self.kinematics = ArmKinematics()
        self._lock = threading.Lock()
        self.create_service(PlanGrasp, "plan_grasp", self.on_plan)
        self.markers = self.create_publisher(MarkerArray, "grasp_planner/markers", LATCHED_QOS)

    def object_box(self, request: PlanGrasp.Request) -> tuple[np.ndarray, np.ndarray, str, np.ndarray | None]:
        """The object's box pose, extent, label, and its points when the request carries a cloud."""
        if request.cloud.width * request.cloud.height > 0:
            points = pointcloud2_to_points(request.cloud)
            if len(points) < 10:
                raise InvalidArgumentError("the cloud has fewer than 10 valid points")
            pose, extent = box_pose(points)
            return pose, extent, request.label, points
        if request.detection.has_3d:
            extent = request.detection.extent
            return (
                pose_to_matrix(request.detection.pose),
                np.array([extent.x, extent.y, extent.z]),
                request.detection.label or request.label,
                None,
            )
        raise InvalidArgumentError(
            "give the object as a detection with 3D data (from detect) or as a point cloud"
        )

    def reachable(self, grasp: GraspCandidate) -> bool:
        pregrasp = grasp.pose.copy()
        pregrasp[2, 3] += self.pregrasp_height
        with self._lock:
            try:
                seed = self.kinematics.solve(pregrasp, np.array(HOME)).q
                self.kinematics.solve(grasp.pose, seed)
            except UnreachableError:
                return False
        return True

    def on_plan(self, request: PlanGrasp.Request, response: PlanGrasp.Response) -> PlanGrasp.Response:
        try:
            pose, extent, label, points = self.object_box(request)
            max_width = request.max_width if 0 < request.max_width <= GRIPPER_MAX_WIDTH else GRIPPER_MAX_WIDTH
            if self.backend == "antipodal" and points is None:
                raise InvalidArgumentError("the antipodal backend needs the object as a point cloud")
            candidates = [] if self.backend == "antipodal" else top_down_grasps(pose, extent, max_width)
            if points is not None and self.backend != "top_down":
                candidates = sorted(
                    [*candidates, *antipodal_grasps(points, samples=self.samples, max_width=max_width)],
                    key=lambda c: -c.score,
                )
            if not candidates:
                raise UnreachableError(
                    f"the object ({np.round(extent[:2], 3).tolist()} m across) is wider than "
                    f"the gripper's {max_width} m opening on both sides"
                )
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
            if not grasps:
                raise UnreachableError(
                    f"none of {len(candidates)} grasp(s) is reachable: the object at "
                    f"{np.round(pose[:3, 3], 3).tolist()} is too far or too low"
                )
        except MaestroError as exc:
            response.success, response.error_code, response.message = False, int(exc.code), str(exc)
            return response
        for grasp in grasps:
            grasp.header.frame_id = "base"
        response.grasps = grasps[: request.max_grasps or self.max_grasps]
        self.markers.publish(
            markers.grippers(
                "grasps",
                [pose_to_matrix(g.pose) for g in response.grasps],
                [g.width for g in response.grasps],
                Header(frame_id="base"),
            )
        )
        response.success, response.message = (
            True,
            f"{len(response.grasps)} grasp(s) for {label or 'the object'}",
        )
        return response


def main(args: Sequence[str] | None = None) -> int:
    return run_node(GraspPlannerNode, args)


if __name__ == "__main__":
    sys.exit(main())
