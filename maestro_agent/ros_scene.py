"""The agent node's view of the world (camera snapshots, the task score) and its event outlet
(RunTask feedback, TraceEvent messages)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import CallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from sensor_msgs.msg import Image

from maestro_agent.loop import Sink
from maestro_agent.traces.video import VideoRecorder
from maestro_msgs.action import RunTask
from maestro_msgs.msg import ToolCall, TraceEvent
from maestro_msgs.srv import GetTaskProgress, QueryMap, ResetScene
from maestro_tools.common.errors import MaestroError
from maestro_tools.common.qos import LATCHED_QOS
from maestro_tools.common.spinning import wait_future_blocking
from maestro_tools.perception.topic_source import SENSOR_QOS, TopicFrameSource, colour_rgb

KINDS = {
    "plan": TraceEvent.PLAN,
    "code": TraceEvent.CODE,
    "line": TraceEvent.LINE,
    "tool_call": TraceEvent.TOOL_CALL,
    "image": TraceEvent.IMAGE,
    "judgement": TraceEvent.REASONING,
    "replan": TraceEvent.REPLAN,
    "reflection": TraceEvent.REFLECTION,
    "tokens": TraceEvent.TOKENS,
    "outcome": TraceEvent.OUTCOME,
}


class RosScene:
    """Snapshots from the robot's cameras; the sim's score (-1 on a real robot); the trial's video
    (``video``: set by the node, read by the reflection; ``grab_video`` takes its frames)."""

    def __init__(
        self,
        node: Node,
        group: CallbackGroup,
        reset_seed: int | None,
        cameras: Sequence[str],
        base_frame: str,
        overview_camera: str = "",
    ) -> None:
        self.node, self.group, self.reset_seed = node, group, reset_seed
        self.cameras = tuple(cameras)
        self.progress_client = node.create_client(GetTaskProgress, "get_task_progress", callback_group=group)
        self.reset_client = node.create_client(ResetScene, "reset_scene", callback_group=group)
        self.map_client = node.create_client(QueryMap, "query_map", callback_group=group)
        self.base_frame = base_frame
        self.task = ""  # the simulated task, from the sim's latched scene description
        self.call_timeout_s = 5.0  # longest wait for the sim's score (the node shortens it on shutdown)
        self.frames = TopicFrameSource(node, group, self.cameras, 5.0, on_demand=True, base_frame=base_frame)
        node.create_subscription(
            ResetScene.Response, "scene", self._on_scene, LATCHED_QOS, callback_group=group
        )
        self.video: VideoRecorder | None = None
        # Shown to the VLM after each substep and recorded as the trial's video: the robot's detection
        # camera (the Franka's scene camera, the Go2-W's head camera); the wrist's images come from the tools.
        self.overview_camera = overview_camera or (self.cameras or ("scene",))[0]
        self._video_topic = f"{self.overview_camera}_camera/color/image_raw"

    def _on_scene(self, message: ResetScene.Response) -> None:
        self.task = message.task

    def snapshot(self, cameras: Sequence[str] = ()) -> list[tuple[str, np.ndarray]]:
        """One image per camera (default: all of the robot's); colour and depth subscribed only for the
        grab (a simulated camera renders only then)."""
        images = []
        for camera in cameras or self.cameras:
            try:
                images.append((f"{camera} camera", self.frames.grab(camera).rgb))
            except MaestroError as exc:
                self.node.get_logger().warning(f"no {camera} image for the VLM: {exc}")
        return images

    def grab_video(self, timeout: float) -> np.ndarray | None:
        """One colour image (RGB) of the video camera, None when none came within ``timeout`` s.

        Colour only, subscribed for this one image: a simulated camera renders just for it (holding the
        subscription would have the sim render colour and depth at its camera_rate all trial long)."""
        if self.node.count_publishers(self._video_topic) == 0:
            return None
        got = threading.Event()
        box: list[Image] = []

        def take(message: Image) -> None:
            if not box:
                box.append(message)
                got.set()

        subscription = self.node.create_subscription(
            Image,
            self._video_topic,
            take,
            SENSOR_QOS,
            callback_group=self.group,
            # No QoS-event handlers: destroying them races a spinning executor in rclpy (Jazzy).
            event_callbacks=SubscriptionEventCallbacks(use_default_callbacks=False),
        )
        try:
            got.wait(timeout)
        finally:
            self.node.destroy_subscription(subscription)
        return colour_rgb(box[0]) if box else None

    def progress(self) -> float:
        timeout = self.call_timeout_s
        if not self.progress_client.wait_for_service(timeout_sec=min(0.5, timeout)):
            return -1.0
        response = wait_future_blocking(self.progress_client.call_async(GetTaskProgress.Request()), timeout)
        return float(response.progress) if response is not None and response.success else -1.0

    def map_description(self) -> str:
        """What the semantic mapper remembers, as text in the base frame; "" when no mapper runs or it
        knows nothing yet."""
        if not self.map_client.service_is_ready():
            return ""
        request = QueryMap.Request(frame=self.base_frame)
        response = wait_future_blocking(self.map_client.call_async(request), min(2.0, self.call_timeout_s))
        known = response is not None and response.success and len(response.objects) > 0
        return response.description if known else ""

    def prepare_trial(self, index: int) -> None:
        if self.reset_seed is None or not self.reset_client.wait_for_service(timeout_sec=0.5):
            return
        response = wait_future_blocking(
            self.reset_client.call_async(ResetScene.Request(seed=self.reset_seed)), 10.0
        )
        if response is None or not response.success:
            self.node.get_logger().warning(f"could not reset the scene before trial {index + 1}")


class RosSink:
    """Publishes the loop's events: ``trace`` (TraceEvent, every event) and the goal's feedback."""

    def __init__(self, node: Node, recorder: Sink | None = None) -> None:
        self.node, self.recorder = node, recorder
        self.trace = node.create_publisher(TraceEvent, "trace", 100)
        self._lock = threading.Lock()
        self._goal: ServerGoalHandle | None = None
        self._trial_id, self._substep, self._subtask, self._stdout = "", 0, 0, ""
        self._feedback = RunTask.Feedback()

    def for_goal(self, handle: ServerGoalHandle) -> RosSink:
        with self._lock:
            if self._goal is not handle:
                self._goal, self._feedback = handle, RunTask.Feedback()
        return self

    def confirmation_request(self, text: str) -> None:
        """Supervised mode: show the goal's client the motion waiting for confirm_motion."""
        with self._lock:
            feedback = self._feedback
            feedback.phase, feedback.stdout_tail = "awaiting_confirmation", text
            if self._goal is not None and self._goal.is_active:
                self._goal.publish_feedback(feedback)

    def live(self, event: dict[str, Any]) -> None:
        """Events streamed by the sandbox while code runs (executing line, tool calls)."""
        self.record(event.get("kind", "event"), **{k: v for k, v in event.items() if k != "kind"})

    def record(self, kind: str, **fields: Any) -> None:
        if self.recorder is not None:
            self.recorder.record(kind, **fields)
        if kind == "trial_start":
            self._trial_id = fields["trial_id"]
        if kind == "phase":
            self._publish_feedback(fields)
        if kind in KINDS:
            self.trace.publish(self._event(kind, fields))

    def _publish_feedback(self, fields: dict[str, Any]) -> None:
        with self._lock:
            feedback = self._feedback
            feedback.phase = fields["phase"]
            feedback.substep = int(fields.get("substep", 0))
            if fields.get("plan"):
                feedback.plan = [str(p) for p in fields["plan"]]
            feedback.current_subtask = int(fields.get("current_subtask", 0))
            if fields.get("code"):
                feedback.code = str(fields["code"])
            if "stdout_tail" in fields:
                feedback.stdout_tail = str(fields["stdout_tail"])
            feedback.replans = int(fields.get("replans", 0))
            self._substep, self._subtask = feedback.substep, feedback.current_subtask
            if self._goal is not None and self._goal.is_active:
                self._goal.publish_feedback(feedback)

    def heartbeat(self) -> None:
        """Publish the goal's latest feedback again: a running goal is heard from even while one phase
        lasts minutes (a client takes silence for a dead agent)."""
        with self._lock:
            if self._goal is not None and self._goal.is_active:
                self._goal.publish_feedback(self._feedback)

    def _event(self, kind: str, fields: dict[str, Any]) -> TraceEvent:
        event = TraceEvent(
            trial_id=self._trial_id, kind=KINDS[kind], substep=self._substep, current_subtask=self._subtask
        )
        event.header.stamp = self.node.get_clock().now().to_msg()
        event.line = int(fields.get("line", 0) or 0)
        event.text = str(
            fields.get("code")
            or fields.get("reasoning")
            or fields.get("text")
            or fields.get("summary")
            or fields.get("reason")
            or fields.get("label")
            or ""
        )
        event.plan = [str(p) for p in fields.get("plan", [])]
        event.progress = float(fields.get("progress", -1.0) if fields.get("progress") is not None else -1.0)
        event.input_tokens = int(fields.get("input_tokens", 0))
        event.output_tokens = int(fields.get("output_tokens", 0))
        if kind == "tool_call":
            event.tool_call = ToolCall(
                trial_id=self._trial_id,
                substep=self._substep,
                line=event.line,
                module=str(fields.get("module", "")),
                function=str(fields.get("function", "")),
                category=str(fields.get("category", "")),
                arguments=str(fields.get("arguments", "")),
                duration=float(fields.get("duration", 0.0)),
                success=bool(fields.get("success", True)),
                error_code=int(fields.get("error_code", 0)),
                message=str(fields.get("message", "")),
            )
        return event
