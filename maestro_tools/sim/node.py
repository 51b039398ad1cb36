"""The ``sim`` node: the MuJoCo Franka tabletop behind the same ROS interface as a real robot driver.

Publishes /clock, joint_states, and per camera (scene, wrist) colour rgb8 + depth 32FC1 images with
CameraInfo and the camera pose (RELIABLE QoS). Actions: execute_trajectory (ExecuteTrajectory),
gripper (GripperCommand). Services: reset_scene, get_task_progress, get_segmentation (ground
truth: instances, named sites).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header

from maestro_msgs.action import ExecuteTrajectory, GripperCommand
from maestro_msgs.msg import TaskStage
from maestro_msgs.srv import GetSegmentation, GetTaskProgress, ResetScene
from maestro_tools.common.conversions import (
    intrinsics_to_camera_info,
    matrix_to_pose,
    numpy_to_image,
    seconds_to_time,
)
from maestro_tools.common.errors import ErrorCode, InvalidArgumentError, MaestroError
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.qos import IMAGE_QOS, LATCHED_QOS, STATE_QOS
from maestro_tools.sim.cameras import Frame
from maestro_tools.sim.control import validate_trajectory
from maestro_tools.sim.ground_truth import fill_segmentation, render_view
from maestro_tools.sim.runner import Job, Outputs, PhysicsRunner, RunnerConfig
from maestro_tools.sim.tasks import PERTURBATIONS, TASKS
from maestro_tools.sim.world import SimWorld

BASE_FRAME = "base"


class SimNode(Node):
    def __init__(self) -> None:
        super().__init__("sim")
        task = declare(self, "task", "ball_in_bowl", "Task scene loaded at start-up", choices=tuple(TASKS))
        seed = declare(self, "seed", 0, "Seed of the start-up scene", minimum=0)
        perturbation = declare(
            self, "perturbation", "none", "Perturbation axis of the start-up scene", choices=PERTURBATIONS
        )
        rate = declare(
            self,
            "physics_rate",
            500.0,
            "MuJoCo steps per simulated second",
            minimum=100.0,
            maximum=5000.0,
            read_only=True,
        )
        width = declare(
            self, "image_width", 640, "Camera image width, pixels", minimum=32, maximum=1920, read_only=True
        )
        height = declare(
            self, "image_height", 480, "Camera image height, pixels", minimum=32, maximum=1080, read_only=True
        )
        config = RunnerConfig(
            real_time_factor=declare(
                self,
                "real_time_factor",
                1.0,
                "Simulated seconds per wall second; 0 = as fast as possible",
                minimum=0.0,
                read_only=True,
            ),
            joint_state_rate=declare(
                self,
                "joint_state_rate",
                100.0,
                "joint_states rate, Hz (sim time)",
                minimum=1.0,
                maximum=1000.0,
                read_only=True,
            ),
            camera_rate=declare(
                self,
                "camera_rate",
                10.0,
                "Rate of each subscribed camera, Hz (sim time); 0 = no streaming",
                minimum=0.0,
                maximum=60.0,
                read_only=True,
            ),
            goal_tolerance=declare(
                self,
                "goal_tolerance",
                0.02,
                "Default per-joint trajectory goal tolerance, rad",
                minimum=0.001,
                maximum=0.5,
                read_only=True,
            ),
        )
        self.world = SimWorld(task, seed, perturbation, width=width, height=height, timestep=1.0 / rate)
        group = ReentrantCallbackGroup()
        self.clock_pub = self.create_publisher(Clock, "/clock", STATE_QOS)
        self.joint_pub = self.create_publisher(JointState, "joint_states", STATE_QOS)
        self.camera_pubs: dict[str, dict[str, Any]] = {}
        for camera in self.world.profile.camera_names:
            prefix = f"{camera}_camera"
            self.camera_pubs[camera] = {
                "color": self.create_publisher(Image, f"{prefix}/color/image_raw", IMAGE_QOS),
                "color_info": self.create_publisher(CameraInfo, f"{prefix}/color/camera_info", STATE_QOS),
                "depth": self.create_publisher(Image, f"{prefix}/depth/image_raw", IMAGE_QOS),
                "depth_info": self.create_publisher(CameraInfo, f"{prefix}/depth/camera_info", STATE_QOS),
                "pose": self.create_publisher(PoseStamped, f"{prefix}/pose", STATE_QOS),
            }
        self.instruction_pub = self.create_publisher(ResetScene.Response, "scene", LATCHED_QOS)
        self.create_service(ResetScene, "reset_scene", self.on_reset, callback_group=group)
        self.create_service(GetTaskProgress, "get_task_progress", self.on_progress, callback_group=group)
        self.create_service(GetSegmentation, "get_segmentation", self.on_segmentation, callback_group=group)
        self.trajectory_server = ActionServer(
            self,
            ExecuteTrajectory,
            "execute_trajectory",
            execute_callback=self.execute_trajectory,
            goal_callback=lambda _: GoalResponse.ACCEPT,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=group,
        )
        self.gripper_server = ActionServer(
            self,
            GripperCommand,
            "gripper",
            execute_callback=self.execute_gripper,
            goal_callback=lambda _: GoalResponse.ACCEPT,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=group,
        )
        outputs = Outputs(
            clock=self.publish_clock,
            joint_state=self.publish_joint_state,
            frame=self.publish_frame,
            wants_camera=self.wants_camera,
            alive=self.context.ok,
            crashed=self.on_physics_crash,
        )
        self.runner = PhysicsRunner(self.world, config, outputs)
        self.runner.start()
        self.publish_scene()
        info = self.world.info
        self.get_logger().info(
            f"sim ready: task {info.task} (seed {info.seed}, {info.perturbation}): {info.instruction!r}"
        )

    def close(self) -> None:
        self.runner.stop()

    def on_physics_crash(self, error: BaseException) -> None:
        """A dead physics thread leaves nothing to serve: exit, so the launcher can respawn the node."""
        self.get_logger().fatal(f"the physics thread failed ({error!r}); shutting the sim node down")
        self.context.try_shutdown()

    # -- publishing (called from the physics thread) ----------------------------------------------
    def publish_clock(self, now: float) -> None:
        self.clock_pub.publish(Clock(clock=seconds_to_time(now)))

    def publish_joint_state(
        self, now: float, names: list[str], position: np.ndarray, velocity: np.ndarray, effort: np.ndarray
    ) -> None:
        self.joint_pub.publish(
            JointState(
                header=Header(stamp=seconds_to_time(now), frame_id=BASE_FRAME),
                name=names,
                position=position.tolist(),
                velocity=velocity.tolist(),
                effort=effort.tolist(),
            )
        )

    def wants_camera(self, camera: str) -> bool:
        pubs = self.camera_pubs[camera]
        return pubs["color"].get_subscription_count() + pubs["depth"].get_subscription_count() > 0

    def publish_frame(self, camera: str, frame: Frame, intrinsics: np.ndarray, pose: np.ndarray) -> None:
        pubs = self.camera_pubs[camera]
        header = Header(stamp=seconds_to_time(frame.time), frame_id=f"{camera}_camera_optical_frame")
        info = intrinsics_to_camera_info(intrinsics, frame.rgb.shape[1], frame.rgb.shape[0], header)
        pubs["color"].publish(numpy_to_image(frame.rgb, "rgb8", header))
        pubs["color_info"].publish(info)
        pubs["depth"].publish(numpy_to_image(frame.depth, "32FC1", header))
        pubs["depth_info"].publish(info)
        pubs["pose"].publish(
            PoseStamped(header=Header(stamp=header.stamp, frame_id=BASE_FRAME), pose=matrix_to_pose(pose))
        )

    def publish_scene(self) -> None:
        response = ResetScene.Response(
            success=True,
            task=self.world.info.task,
            instruction=self.world.info.instruction,
            objects=list(self.world.info.objects),
            available_tasks=list(TASKS),
            available_perturbations=list(PERTURBATIONS),
        )
        self.instruction_pub.publish(response)

    # -- services --------------------------------------------------------------------------------
    @staticmethod
    def _fail(response: Any, exc: MaestroError) -> Any:
        response.success, response.error_code, response.message = False, int(exc.code), str(exc)
        return response

    def on_reset(self, request: ResetScene.Request, response: ResetScene.Response) -> ResetScene.Response:
        response.available_tasks, response.available_perturbations = list(TASKS), list(PERTURBATIONS)
        task = request.task or self.world.info.task

        def reset() -> Any:
            info = self.world.reset(task, int(request.seed), request.perturbation or "none")
            self.runner.preempt("the scene was reset")
            return info

        try:
            info = self.runner.call(reset)
        except MaestroError as exc:
            return self._fail(response, exc)
        response.success, response.task, response.instruction = True, info.task, info.instruction
        response.objects = list(info.objects)
        response.message = f"reset {info.task} (seed {info.seed}, perturbation {info.perturbation})"
        self.publish_scene()
        self.get_logger().info(f"{response.message}: {info.instruction!r}")
        return response

    def on_progress(
        self, request: GetTaskProgress.Request, response: GetTaskProgress.Response
    ) -> GetTaskProgress.Response:
        score, stages = self.runner.call(self.world.progress)
        response.success, response.task, response.progress = True, self.world.info.task, score
        response.stages = [TaskStage(name=s.name, points=float(s.points), reached=s.reached) for s in stages]
        return response

    def on_segmentation(
        self, request: GetSegmentation.Request, response: GetSegmentation.Response
    ) -> GetSegmentation.Response:
        camera = request.camera or "scene"
        try:
            view = self.runner.call(lambda: render_view(self.world, camera))
        except MaestroError as exc:
            return self._fail(response, exc)
        return fill_segmentation(response, view)

    # -- actions ---------------------------------------------------------------------------------
    def _follow(
        self,
        goal_handle: ServerGoalHandle,
        job: Job,
        cancel: Callable[[], None],
        feedback: Callable[[Job], Any],
    ) -> bool:
        """Wait for ``job`` while streaming feedback; return False if the client canceled."""
        while not job.done.wait(0.05):
            if goal_handle.is_cancel_requested:
                self.runner.call(cancel)
                return False
            if not goal_handle.is_active:
                return False
            goal_handle.publish_feedback(feedback(job))
        return True

    def execute_trajectory(self, goal_handle: ServerGoalHandle) -> ExecuteTrajectory.Result:
        request = goal_handle.request
        result = ExecuteTrajectory.Result()
        points = request.trajectory.points
        try:
            if not np.isfinite(request.goal_tolerance) or request.goal_tolerance < 0:
                raise InvalidArgumentError(
                    f"goal_tolerance must be a non-negative number; got {request.goal_tolerance}"
                )
            trajectory = validate_trajectory(
                self.world.limits,
                list(request.trajectory.joint_names),
                [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in points],
                [list(p.positions) for p in points],
            )
            job = self.runner.call(lambda: self.runner.start_trajectory(trajectory, request.goal_tolerance))
        except MaestroError as exc:
            goal_handle.abort()
            self.get_logger().warning(f"trajectory rejected: {exc}")
            return self._fail(result, exc)
        names = list(request.trajectory.joint_names)

        def feedback(job: Job) -> ExecuteTrajectory.Feedback:
            details = job.details
            return ExecuteTrajectory.Feedback(
                joint_names=names,
                desired=list(map(float, details.get("desired", []))),
                actual=list(map(float, details.get("actual", []))),
                time_from_start=float(details.get("elapsed", 0.0)),
                progress=job.progress,
            )

        if not self._follow(goal_handle, job, lambda: self.runner.cancel_trajectory(job), feedback):
            goal_handle.canceled()
            result.error_code, result.message = (
                int(ErrorCode.CANCELED),
                "canceled; the arm holds its position",
            )
            return result
        result.joint_names = names
        result.final_positions = list(map(float, job.details.get("final", job.details.get("actual", []))))
        result.max_final_error = float(job.details.get("max_error", -1.0))
        result.error_code, result.message, result.success = (
            int(job.code),
            job.message,
            job.code == ErrorCode.OK,
        )
        (goal_handle.succeed if result.success else goal_handle.abort)()
        return result

    def execute_gripper(self, goal_handle: ServerGoalHandle) -> GripperCommand.Result:
        request, result = goal_handle.request, GripperCommand.Result()
        targets = {
            GripperCommand.Goal.OPEN: self.world.gripper.max_width,
            GripperCommand.Goal.CLOSE: 0.0,
            GripperCommand.Goal.GRASP: 0.0,
            GripperCommand.Goal.MOVE: float(request.width),
        }
        try:
            if request.command not in targets:
                raise InvalidArgumentError(
                    f"unknown gripper command {request.command}; valid: 0 OPEN, 1 CLOSE, 2 GRASP, 3 MOVE"
                )
            if not np.isfinite(targets[request.command]):
                raise InvalidArgumentError(f"gripper width must be a number; got {request.width}")
            job = self.runner.call(lambda: self.runner.start_gripper(targets[request.command]))
        except MaestroError as exc:
            goal_handle.abort()
            return self._fail(result, exc)

        def feedback(job: Job) -> GripperCommand.Feedback:
            width = float(job.details.get("width", 0.0))
            return GripperCommand.Feedback(
                width=width, closed_fraction=1.0 - width / self.world.gripper.max_width
            )

        if not self._follow(goal_handle, job, lambda: None, feedback):
            goal_handle.canceled()
            result.error_code, result.message = int(ErrorCode.CANCELED), "canceled"
            return result
        width = float(job.details.get("width", 0.0))
        held = job.details.get("held", [])
        result.width, result.closed_fraction = width, 1.0 - width / self.world.gripper.max_width
        result.object_held = bool(held)
        result.error_code, result.message = int(job.code), job.message
        if job.code == ErrorCode.OK and request.command == GripperCommand.Goal.GRASP and not held:
            result.error_code = int(ErrorCode.GRASP_FAILED)
            result.message = (
                f"the gripper closed on nothing (opening {width * 1000:.1f} mm, closed fraction "
                f"{result.closed_fraction:.2f}); re-detect the object and grasp again"
            )
        elif held:
            result.message += f"; holding {', '.join(held)}"
        result.success = result.error_code == ErrorCode.OK
        (goal_handle.succeed if result.success else goal_handle.abort)()
        return result


def main(args: Sequence[str] | None = None) -> int:
    return run_node(SimNode, args)


if __name__ == "__main__":
    sys.exit(main())
