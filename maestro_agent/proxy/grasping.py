"""``grasping``: plan grasps on a detected object and execute them (approach, close, lift)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from transforms3d.euler import mat2euler

from maestro_agent.proxy.harness import Harness, retry, show, tool
from maestro_agent.proxy.perception import Perception
from maestro_agent.proxy.registry import register_tool
from maestro_agent.proxy.robot import Robot
from maestro_agent.proxy.ros_client import RosClient
from maestro_agent.proxy.types import GraspCandidate, GripperState
from maestro_msgs.srv import PlanGrasp
from maestro_tools.common import render
from maestro_tools.common.conversions import pose_to_matrix
from maestro_tools.common.errors import GraspFailedError, InvalidArgumentError, MaestroError


def to_candidate(message: object) -> GraspCandidate:
    pose = pose_to_matrix(message.pose)
    return GraspCandidate(
        position=pose[:3, 3].copy(),
        orientation=np.array(mat2euler(pose[:3, :3], "sxyz")),
        rotation=pose[:3, :3].copy(),
        width=float(message.width),
        score=float(message.score),
        strategy=message.strategy,
        label=message.object_label,
        reachable=bool(message.reachable),
    )


class Grasping:
    """Grasp planning (antipodal and top-down candidates, filtered by reachability) and execution."""

    module = "grasping"

    def __init__(self, ros: RosClient | None, harness: Harness, robot: Robot, perception: Perception) -> None:
        self._ros, self._harness, self._robot, self._perception = ros, harness, robot, perception
        if ros is not None:
            self._plan_grasp = ros.service(PlanGrasp, "plan_grasp")

    def _plan_in(self, label: str, camera: str, max_grasps: int) -> list[GraspCandidate]:
        detection = self._perception._find([label], camera, masks=True)[0]
        request = PlanGrasp.Request(detection=detection, max_grasps=max_grasps, check_reachability=True)
        response = self._ros.call(self._plan_grasp, request, self._harness.service_timeout_s)
        candidates = [to_candidate(g) for g in response.grasps]
        if self._harness.renders and candidates:
            frame = self._ros.frame(detection.camera)
            show(
                f"grasps on {label} ({detection.camera} camera)",
                render.draw_grasps(
                    frame.rgb,
                    [_matrix(c) for c in candidates],
                    [c.width for c in candidates],
                    frame.intrinsics,
                    frame.camera_pose,
                    [f"{k}: {c.strategy} {c.score:.2f}" for k, c in enumerate(candidates)],
                ),
            )
        return candidates

    @tool("grasping")
    def plan(self, label: str, camera: str = "", max_grasps: int = 4) -> list[GraspCandidate]:
        """Ranked grasps (best first) for the object ``label`` seen in ``camera``; each has the gripper
        position, orientation and opening width. They are drawn on the camera image for you."""
        if not isinstance(label, str) or not label.strip():
            raise InvalidArgumentError("label must name the object, e.g. 'tennis ball'")
        if not 1 <= int(max_grasps) <= 20:
            raise InvalidArgumentError(f"max_grasps must be 1..20; got {max_grasps}")
        camera = self._harness.check_camera(camera)
        order = [camera, *(c for c in self._harness.robot.camera_names if c != camera)]
        return retry(
            self._harness.tries, lambda k: self._plan_in(label, order[k % len(order)], int(max_grasps))
        )

    @tool("grasping")
    def execute(
        self, grasp: GraspCandidate, approach_distance: float = 0.1, lift: float = 0.15
    ) -> GripperState:
        """Open, move to ``approach_distance`` before the grasp along its approach, move in, grasp, and lift
        by ``lift`` metres. Raises GraspFailedError when the gripper closed on nothing."""
        if not isinstance(grasp, GraspCandidate):
            raise InvalidArgumentError("grasp must be one of the candidates grasping.plan() returned")
        if not 0.0 <= approach_distance <= 0.3 or not 0.0 <= lift <= 0.4:
            raise InvalidArgumentError("approach_distance must be 0..0.3 m and lift 0..0.4 m")
        self._robot.open_gripper()
        self._robot.move_gripper_to(grasp.position - grasp.approach * approach_distance, grasp.orientation)
        self._robot.move_gripper_to(grasp.position, grasp.orientation, path="line", speed=0.5)
        # The planner's width has 1 cm of clearance around the object: the fingers should stop near the rest.
        state = self._robot.grasp(expected_width=max(grasp.width - 0.01, 0.001))
        if lift > 0:
            self._robot.move_gripper_by([0.0, 0.0, lift])
        return state

    @tool("grasping")
    def pick(self, label: str, lift: float = 0.15) -> GripperState:
        """Pick up ``label``: plan from the detection camera, move above it, re-plan from the close hand
        camera view, grasp and lift. With the harness on, a miss is retried with a fresh detection and the
        next grasp."""
        robot = self._harness.robot
        hand = robot.hand_camera

        def attempt(k: int) -> GripperState:
            candidates = self.plan(label, robot.detection_camera)
            first = candidates[min(k, len(candidates) - 1)]
            self._robot.open_gripper()
            self._robot.move_gripper_to(first.position + np.array([0.0, 0.0, 0.12]), first.orientation)
            try:
                close = self.plan(label, hand)
            except MaestroError:
                close = candidates
            try:
                return self.execute(close[min(k, len(close) - 1)], approach_distance=0.0, lift=lift)
            except GraspFailedError:
                self._robot.open_gripper()
                self._robot.move_gripper_by([0.0, 0.0, 0.1])
                raise

        return retry(self._harness.tries, attempt, retry_on=(GraspFailedError,))


register_tool(
    "grasping",
    ("arm", "gripper", "cameras"),
    lambda ros, harness, built: Grasping(ros, harness, built["robot"], built["perception"]),
)


def _matrix(candidate: GraspCandidate) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = candidate.rotation, candidate.position
    return pose


__all__: Sequence[str] = ["Grasping", "to_candidate"]
