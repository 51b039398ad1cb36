"""The simulation extras every sim node serves (ARCHITECTURE.md, "The robot interface"): ``reset_scene``
(maestro_msgs/srv/ResetScene), ``get_task_progress`` (GetTaskProgress), ``get_segmentation``
(GetSegmentation: ground truth for the ``sim`` detector backend) and the latched ``scene`` topic (the
current task, instruction and objects, as a ResetScene response).

The world does the work in the physics thread (``PhysicsRunner.call``); a bad request (an unknown task,
perturbation or camera) is answered with success false, an error code and a message naming the valid
choices, and never takes the node down.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node

from maestro_msgs.msg import TaskStage
from maestro_msgs.srv import GetSegmentation, GetTaskProgress, ResetScene
from maestro_tools.common.errors import ErrorCode, MaestroError
from maestro_tools.common.qos import LATCHED_QOS
from maestro_tools.sim.ground_truth import GroundTruthView, fill_segmentation
from maestro_tools.sim.world import SceneInfo, StageReport

T = TypeVar("T")


class Runner(Protocol):
    """What the services need of ``PhysicsRunner``: run a function in the physics thread; preempt jobs."""

    def call(self, function: Callable[[], T], timeout: float = 30.0) -> T: ...

    def preempt(self, reason: str) -> None: ...


class SceneWorld(Protocol):
    """What a simulated world offers the services (``SimWorld``, ``MobileWorld``)."""

    info: SceneInfo

    def reset(self, task: str, seed: int = 0, perturbation: str = "none") -> SceneInfo: ...

    def progress(self) -> tuple[float, list[StageReport]]: ...


class SceneServices:
    """Creates the three services and the ``scene`` publisher on ``node``; ``view(camera)`` renders the
    ground truth of one camera (physics thread); ``default_camera`` answers a request that names none."""

    def __init__(
        self,
        node: Node,
        world: SceneWorld,
        runner: Runner,
        group: CallbackGroup,
        *,
        tasks: Sequence[str],
        perturbations: Sequence[str],
        view: Callable[[str], GroundTruthView],
        default_camera: str,
    ) -> None:
        self.node, self.world, self.runner = node, world, runner
        self.tasks, self.perturbations = list(tasks), list(perturbations)
        self.view, self.default_camera = view, default_camera
        self.scene_pub = node.create_publisher(ResetScene.Response, "scene", LATCHED_QOS)
        node.create_service(ResetScene, "reset_scene", self.on_reset, callback_group=group)
        node.create_service(GetTaskProgress, "get_task_progress", self.on_progress, callback_group=group)
        node.create_service(GetSegmentation, "get_segmentation", self.on_segmentation, callback_group=group)

    def publish_scene(self) -> None:
        info = self.world.info
        self.scene_pub.publish(
            ResetScene.Response(
                success=True,
                task=info.task,
                instruction=info.instruction,
                objects=list(info.objects),
                available_tasks=self.tasks,
                available_perturbations=self.perturbations,
            )
        )

    def _fail(self, response: Any, exc: Exception, what: str) -> Any:
        """A failed request's response; an unexpected error is logged with its type (never raised)."""
        if isinstance(exc, MaestroError):
            code, message = exc.code, str(exc)
        else:
            code, message = ErrorCode.BACKEND_ERROR, f"{what} failed: {type(exc).__name__}: {exc}"
            self.node.get_logger().error(message)
        response.success, response.error_code, response.message = False, int(code), message
        return response

    def on_reset(self, request: ResetScene.Request, response: ResetScene.Response) -> ResetScene.Response:
        response.available_tasks, response.available_perturbations = self.tasks, self.perturbations
        task = request.task or self.world.info.task

        def reset() -> SceneInfo:
            info = self.world.reset(task, int(request.seed), request.perturbation or "none")
            self.runner.preempt("the scene was reset")
            return info

        try:
            info = self.runner.call(reset)
        except Exception as exc:  # answered, never raised into the executor
            return self._fail(response, exc, "reset_scene")
        response.success, response.task, response.instruction = True, info.task, info.instruction
        response.objects = list(info.objects)
        response.message = f"reset {info.task} (seed {info.seed}, perturbation {info.perturbation})"
        self.publish_scene()
        self.node.get_logger().info(f"{response.message}: {info.instruction!r}")
        return response

    def on_progress(
        self, request: GetTaskProgress.Request, response: GetTaskProgress.Response
    ) -> GetTaskProgress.Response:
        try:
            score, stages = self.runner.call(self.world.progress)
        except Exception as exc:
            return self._fail(response, exc, "get_task_progress")
        response.success, response.task, response.progress = True, self.world.info.task, score
        response.stages = [TaskStage(name=s.name, points=float(s.points), reached=s.reached) for s in stages]
        return response

    def on_segmentation(
        self, request: GetSegmentation.Request, response: GetSegmentation.Response
    ) -> GetSegmentation.Response:
        camera = request.camera or self.default_camera
        try:
            view = self.runner.call(lambda: self.view(camera))
        except Exception as exc:
            return self._fail(response, exc, "get_segmentation")
        return fill_segmentation(response, view)
