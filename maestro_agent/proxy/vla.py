"""``vla``: run a learned visuomotor policy (a VLA behind the vla_bridge node's ``run_policy`` action) on one
subtask until a monitor says it is done. Registered for robots whose profile declares a ``vla`` spec, and
only when a vla_bridge runs (the agent's ``vla`` parameter, set by the bringup's vla argument)."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from maestro_agent.proxy.harness import Harness, show, tool
from maestro_agent.proxy.registry import register_tool
from maestro_agent.proxy.ros_client import RosClient
from maestro_msgs.action import RunPolicy
from maestro_tools.common.errors import InvalidArgumentError, MaestroError, error_from_code

ACTION = "run_policy"  # the vla_bridge node's action (the actuation gate must allow it)
UNTIL = ("vlm", "vlm: <yes/no question>", "progress", "progress: <score>", "detect: <label>", "none")
MARGIN_S = 15.0  # beyond timeout_s: connecting, the last chunk, the result


def _check_until(until: object) -> str:
    text = until.strip() if isinstance(until, str) else None
    kind = (text or "").partition(":")[0].strip().lower()
    if text is None or kind not in ("vlm", "progress", "detect", "none"):
        raise InvalidArgumentError(f"until must be one of {', '.join(UNTIL)}; got {until!r}")
    return text


def verdict_image(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """``image`` with ``lines`` written along its top on a dark band (the monitor's verdict)."""
    out = np.ascontiguousarray(image[:, :, :3]).copy()
    scale = max(0.4, out.shape[1] / 1400)
    height = int(24 * scale / 0.5)
    out[: height * len(lines) + 6] //= 3
    for row, text in enumerate(lines):
        origin = (6, height * (row + 1) - 4)
        cv2.putText(out, text[:110], origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


class Vla:
    """A learned policy (VLA) for subtasks that are hard to script (wiping, folding, insertion): it moves
    the arm and the gripper itself from the cameras until ``until`` says done. ``until``: "vlm" (a VLM is
    asked whether the instruction is done, twice a second), "vlm: <yes/no question>", "progress" (the
    simulation's task score; evaluation only), "detect: <label>" (done once the detector sees it), "none"
    (run for timeout_s, or until the policy itself reports its plan done). Give short, concrete
    instructions ("pick up the red cup"). Raises StalledError when the policy makes no progress,
    TimeoutError when it ran out of time, BackendError when the policy server failed or is gone; the
    message says where it stopped. The last frame is shown with the verdict."""

    module = "vla"

    def __init__(self, ros: RosClient | None, harness: Harness) -> None:
        self._ros, self._harness = ros, harness
        self._camera = harness.robot.detection_camera
        if ros is not None:
            self._action = ros.action(RunPolicy, ACTION)

    @tool("vla")
    def run(self, instruction: str, timeout_s: float = 30.0, until: str = "vlm") -> dict[str, Any]:
        """Run the policy on ``instruction`` for at most ``timeout_s`` s (1-600) until ``until`` says done;
        returns {"done", "stop_reason", "steps", "duration", "chunks", "chunk_latency_ms", "verdict",
        "message"}."""
        if not isinstance(instruction, str) or not instruction.strip():
            raise InvalidArgumentError(f"instruction must be a non-empty string; got {instruction!r}")
        if (
            not isinstance(timeout_s, int | float)
            or not math.isfinite(timeout_s)
            or not 1 <= timeout_s <= 600
        ):
            raise InvalidArgumentError(f"timeout_s must be in [1, 600] seconds; got {timeout_s!r}")
        goal = RunPolicy.Goal(
            instruction=instruction.strip(), timeout=float(timeout_s), until=_check_until(until)
        )
        if self._ros is None:
            raise InvalidArgumentError("vla has no ROS connection (documentation only)")
        result = self._ros.act(self._action, goal, float(timeout_s) + MARGIN_S)
        self._render(result)
        summary = {
            "done": result.stop_reason == "DONE",
            "stop_reason": result.stop_reason,
            "steps": int(result.steps),
            "duration": round(float(result.duration), 2),
            "chunks": int(result.chunks),
            "chunk_latency_ms": round(float(result.mean_chunk_latency) * 1000.0, 1),
            "verdict": result.verdict,
            "message": result.message,
        }
        if not result.success:
            error = error_from_code(
                result.error_code,
                f"vla.run stopped ({result.stop_reason}) after {result.steps} steps and "
                f"{result.duration:.1f} s: {result.message}"
                + (f"; monitor: {result.verdict}" if result.verdict else ""),
            )
            raise error
        return summary

    def _render(self, result: Any) -> None:
        """The scene camera's last frame with why the run stopped and the monitor's verdict (never raises)."""
        if not self._harness.renders or self._ros is None:
            return
        try:
            frame = self._ros.frame(self._camera, timeout=2.0)
        except MaestroError:
            return
        lines = [f"vla: {result.stop_reason} after {result.steps} steps", result.verdict or "no verdict"]
        show(f"vla {result.stop_reason.lower()}", verdict_image(frame.rgb, lines))


def _build(ros: RosClient | None, harness: Harness, built: dict[str, object]) -> Vla:
    return Vla(ros, harness)


register_tool("vla", ("arm", "gripper", "cameras", "vla"), _build, group="S2")
