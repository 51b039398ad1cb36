"""The vla_bridge's monitor checks over ROS: the VLM on a camera image, the simulation's task progress
(``get_task_progress``) and a detection (``detect``), built for a goal's ``until``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from maestro_msgs.srv import Detect, GetTaskProgress
from maestro_tools.common.errors import MaestroTimeoutError, UnavailableError, error_from_code
from maestro_tools.common.spinning import wait_future_blocking
from maestro_tools.vla.monitor import Check, ConditionCheck, ProgressCheck, VlmCheck
from maestro_tools.vla.objects import ObjectTracker, needs_objects
from maestro_tools.vla.params import Until
from maestro_tools.vlm import create_vlm

if TYPE_CHECKING:
    from maestro_tools.vla.node import VlaBridgeNode

SERVICE_TIMEOUT = 5.0


def _call(client: Any, request: Any) -> Any:
    """A service response (its typed error when it failed); never blocks the executor (monitor thread)."""
    if not client.wait_for_service(timeout_sec=1.0):
        raise UnavailableError(f"the service {client.srv_name} is not available")
    response = wait_future_blocking(client.call_async(request), SERVICE_TIMEOUT)
    if response is None:
        raise MaestroTimeoutError(f"{client.srv_name} did not answer within {SERVICE_TIMEOUT:g} s")
    return response


class RosChecks:
    """Builds each goal's checks; its service clients and its VLM (made at first use) live with the node."""

    def __init__(self, node: VlaBridgeNode) -> None:
        self.node = node
        self.progress = node.create_client(GetTaskProgress, "get_task_progress", callback_group=node.group)
        self.detect = node.create_client(Detect, "detect", callback_group=node.group)
        self._vlm: Any = None

    def vlm(self) -> Any:
        """The monitor's VLM client (VLMConfigError says how to configure a missing key or model)."""
        if self._vlm is None:
            params = self.node.params
            options: dict[str, Any] = {"model_parameter": "vlm_model"}
            options |= {"model": params.vlm_model} if params.vlm_model else {}
            options |= {"base_url": params.vlm_base_url} if params.vlm_base_url else {}
            self._vlm = create_vlm(params.vlm, **options)
        return self._vlm

    def make(self, until: Until, instruction: str) -> list[Check]:
        node, period = self.node, self.node.params.monitor_period
        camera = node.monitor_camera
        if until.kind == "vlm":
            return [VlmCheck(self.vlm(), instruction, lambda: node.image(camera), until.argument, period)]
        if until.kind == "progress":
            return [ProgressCheck(self._progress, until.threshold, period)]
        if until.kind == "detect":
            label = until.argument
            return [ConditionCheck(lambda: self._detected(label, camera), f"detect {label!r}", period)]
        return []

    def objects(self, metadata: Mapping[str, Any]) -> ObjectTracker | None:
        """The goal's object positions when the policy's metadata requires them, else None."""
        if not needs_objects(metadata):
            return None
        params = self.node.params
        camera = self.node.profile.camera(params.objects_camera or self.node.profile.detection_camera).name
        return ObjectTracker(
            lambda request: _call(self.detect, request), params.object_labels, camera, params.objects_refresh
        )

    def _progress(self) -> tuple[float, str]:
        response = _call(self.progress, GetTaskProgress.Request())
        if not response.success:
            raise error_from_code(response.error_code, response.message)
        reached = [s.name for s in response.stages if s.reached]
        return float(response.progress), f"{response.task}: reached {', '.join(reached) or 'no stage'}"

    def _detected(self, label: str, camera: str) -> tuple[bool, str]:
        response = _call(self.detect, Detect.Request(labels=[label], camera=camera))
        found = [d for d in response.detections if response.success]
        if not found:
            return False, f"not seen by the {camera} camera"
        return True, f"seen by the {camera} camera (score {found[0].score:.2f})"
