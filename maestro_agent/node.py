"""The agent node: serves ``run_task`` (maestro_msgs/action/RunTask) with the closed loop.

One goal runs at a time; a goal that arrives while one runs is accepted and aborted at once with a
message naming the running task (ROS 2 rejections carry no reason). Generated code runs in one
sandbox process per node, started at start-up and reset per trial. Events of the loop become RunTask
feedback (phase changes and substeps) and ``trace`` TraceEvent messages.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from sensor_msgs.msg import JointState

from maestro_agent import prompt
from maestro_agent.bringup.paths import share_dir
from maestro_agent.loop import Agent, LoopConfig, TaskCancelledError, TrialResult, check_task, quote
from maestro_agent.proxy.faults import declare_faults
from maestro_agent.proxy.registry import (
    FULL_GROUP,
    TOOL_GROUPS,
    available_tools,
    enable_capabilities,
    registered_tools,
)
from maestro_agent.ros_scene import RosScene, RosSink
from maestro_agent.tool_sandbox import declare_sandbox
from maestro_agent.traces.recorder import TraceRecorder
from maestro_agent.traces.store import TraceStore
from maestro_agent.traces.video import VideoRecorder
from maestro_agent.vlm_backends import create_vlm
from maestro_msgs.action import RunTask
from maestro_tools.common.errors import MaestroError
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.qos import STATE_QOS
from maestro_tools.robots.params import declare_robot

VLM_CHOICES = ("gemini", "openai", "scripted")
HEARTBEAT_S = 1.0  # a running goal's feedback is repeated at least this often: clients see it is alive


class AgentNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("agent", **kwargs)
        self.robot = declare_robot(self)
        self._closing = threading.Event()
        backend = declare(
            self,
            "vlm",
            "gemini",
            "VLM backend: gemini | openai | scripted (a replayed program file)",
            choices=VLM_CHOICES,
            read_only=True,
        )
        model = declare(self, "model", "", "Model name; empty = the backend's default", read_only=True)
        base_url = declare(
            self,
            "base_url",
            "",
            "VLM endpoint; empty = the backend's default (openai: required)",
            read_only=True,
        )
        programs = declare(
            self,
            "programs",
            "",
            "scripted: program file or folder; empty = the shipped programs",
            read_only=True,
        )
        vla = declare(
            self,
            "vla",
            "none",
            "The bringup's vla argument: none = no vla_bridge runs; warp or a ws:// URL = one runs, and the "
            "robot's vla tool (and the scripted programs that require it) are given to the agent",
            read_only=True,
        )
        enable_capabilities(("vla",), vla.strip() not in ("", "none") and self.robot.vla is not None)
        self.tool_group = declare(
            self,
            "tool_group",
            FULL_GROUP,
            "The tools the code gets, cumulative (the ablation's groups): "
            + "; ".join(f"{k} = {v}" for k, v in TOOL_GROUPS.items()),
            choices=tuple(TOOL_GROUPS),
            read_only=True,
        )
        tools = available_tools(self.robot, self.tool_group)
        harness = declare(
            self,
            "harness",
            True,
            "Robust, rendered tools (false = atomic calls: the code-as-policies baseline)",
            read_only=True,
        )
        interface = {
            "gripper_action": declare(
                self,
                "gripper_action",
                "gripper_controller/gripper_cmd",
                "The gripper's control_msgs/GripperCommand action (franka: /franka_gripper/gripper_action)",
            ),
            "joint_states_topic": declare(
                self, "joint_states_topic", "joint_states", "The robot's sensor_msgs/JointState topic"
            ),
            "joint_prefix": declare(
                self,
                "joint_prefix",
                "",
                "The driver's joint-name prefix if not the profile's (franka_ros2: fr3_)",
            ),
        }
        self.config = LoopConfig(
            max_substeps=declare(
                self,
                "max_substeps",
                20,
                "Substep budget per trial when the goal gives 0",
                minimum=1,
                maximum=200,
            ),
        )
        self.reset_between_trials = declare(
            self,
            "reset_between_trials",
            True,
            "trials > 1 in simulation: reset the scene before each new trial",
        )
        self.trial_seed = declare(self, "trial_seed", 0, "Seed of the scene reset between trials", minimum=0)
        self.vlm, self.vlm_error = None, ""
        options: dict[str, Any] = {"model": model} if model else {}
        if base_url:
            options["base_url"] = base_url
        if backend == "scripted":
            options = {
                "programs": programs or str(share_dir() / "config" / "programs"),
                "tools": tools,
                "registered": [t.name for t in registered_tools()],
            }
        try:
            self.vlm = create_vlm(backend, **options)
        except MaestroError as exc:  # keep serving: every goal reports how to fix it
            self.vlm_error = f"the {backend} VLM backend is not usable: {exc}"
            self.get_logger().error(self.vlm_error)
        group = ReentrantCallbackGroup()
        self.scene = RosScene(
            self,
            group,
            self.trial_seed if self.reset_between_trials else None,
            self.robot.camera_names,
            self.robot.base_frame,
            self.robot.detection_camera,
        )
        trace_dir = declare(
            self,
            "trace_dir",
            os.environ.get("MAESTRO_TRACE_DIR", "~/.maestro/traces"),
            "Trace store folder (traces.db + images); MAESTRO_TRACE_DIR sets the default",
            read_only=True,
        )
        self.store = TraceStore(trace_dir)
        video_fps = declare(
            self,
            "video_fps",
            2.0,
            "Frames per second of the scene camera video recorded into the trace while a trial runs "
            "(downscaled JPEG, each frame subscribed for alone); 0 = no video",
            minimum=0.0,
            maximum=10.0,
        )
        if video_fps > 0:
            self.scene.video = VideoRecorder(self.store, self.scene.grab_video, video_fps)
        recorder = TraceRecorder(
            self.store, backend, harness, task_type=lambda: self.scene.task, video=self.scene.video
        )
        self.sink = RosSink(self, recorder)
        self._joint_states = (interface["joint_states_topic"], recorder, group)
        self.sandbox, self.tools_ros, limits = declare_sandbox(
            self,
            self.robot.name,
            harness,
            interface,
            self.sink.live,
            self.sink.confirmation_request,
            self.tool_group,
        )
        self.faults = declare_faults(self, self.tools_ros, self.robot.gripper)  # evaluation only
        self.system = prompt.system_prompt(self.robot.name, harness, limits, self.tool_group)
        self._busy = threading.Lock()
        self._running = ""
        ActionServer(
            self,
            RunTask,
            "run_task",
            execute_callback=self.execute,
            goal_callback=lambda _: GoalResponse.ACCEPT,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=group,
        )
        self.get_logger().info(
            f"agent ready: vlm={backend}{' (' + self.vlm.model + ')' if self.vlm else ''}, "
            f"harness={harness}, traces in {self.store.path}"
        )

    def execute(self, handle: ServerGoalHandle) -> RunTask.Result:
        goal = handle.request
        refusal = self._refusal(goal)
        if refusal:
            self.get_logger().warning(f"run_task refused: {refusal}")
            handle.abort()
            return RunTask.Result(success=False, progress=-1.0, summary=refusal)
        if not self._busy.acquire(blocking=False):
            handle.abort()
            return RunTask.Result(
                success=False,
                progress=-1.0,
                summary=f"busy: the agent is running {quote(self._running)}; cancel that goal or wait",
            )
        try:
            with self._recording_joints():
                return self._run(handle, goal)
        finally:
            self._running = ""
            self._busy.release()

    @contextmanager
    def _recording_joints(self) -> Iterator[None]:
        """joint_states into the trace while a goal runs, and subscribed only then: each message wakes
        this node (the robot's rate while it moves)."""
        topic, recorder, group = self._joint_states
        subscription = self.create_subscription(
            JointState,
            topic,
            lambda m: recorder.robot_state(list(m.name), list(m.position)),
            STATE_QOS,
            callback_group=group,
            # No QoS-event handlers: destroying them races a spinning executor in rclpy (Jazzy).
            event_callbacks=SubscriptionEventCallbacks(use_default_callbacks=False),
        )
        try:
            yield
        finally:
            self.destroy_subscription(subscription)

    def _refusal(self, goal: RunTask.Goal) -> str:
        """Why the goal cannot run (its values beyond the limits, the agent closing), or ""."""
        if self._closing.is_set():
            return "the agent is shutting down; send the goal to the restarted agent"
        try:
            check_task(goal.instruction, goal.max_substeps, goal.trials)
        except MaestroError as exc:
            return f"invalid goal: {exc}"
        return ""

    def _run(self, handle: ServerGoalHandle, goal: RunTask.Goal) -> RunTask.Result:
        if self.vlm is None:
            handle.abort()
            return RunTask.Result(success=False, progress=-1.0, summary=self.vlm_error)
        self._running = goal.instruction
        if self.faults is not None:  # the same seed injects the same faults (a sweep sets it per trial)
            self.faults.start_trial(self.get_parameter("fault_seed").value)
        sink = self.sink.for_goal(handle)
        agent = Agent(self.vlm, self.sandbox, self.scene, sink, self.config, self.system)
        watching = threading.Event()

        def watch() -> None:
            """Forwards a cancel (repeatedly: the sandbox may start a run after the first) and beats."""
            beat = time.monotonic()
            while not watching.wait(0.02):
                if handle.is_cancel_requested:
                    agent.cancel("the client cancelled the goal")
                elif self._closing.is_set():
                    agent.cancel("the agent is shutting down (SIGINT/SIGTERM)")
                if time.monotonic() - beat >= HEARTBEAT_S:
                    beat = time.monotonic()
                    sink.heartbeat()

        watcher = threading.Thread(target=watch, name="run-task-watch", daemon=True)
        watcher.start()
        error, cancelled = "", False
        try:
            agent.run_task(goal.instruction, goal.max_substeps, goal.trials)
        except TaskCancelledError as exc:
            error, cancelled = f"cancelled: {exc}", True
            self.get_logger().info(f"run_task {quote(goal.instruction)} cancelled: {exc}")
        except MaestroError as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.get_logger().error(f"run_task {quote(goal.instruction)}: {quote(str(exc), 2000)}")
        except Exception as exc:  # a bug must fail the goal, not the node
            error = f"internal error: {type(exc).__name__}: {exc}"
            self.get_logger().error(f"run_task {quote(goal.instruction)} failed:\n{traceback.format_exc()}")
        finally:
            watching.set()
            watcher.join(1.0)
        return self._finish(handle, agent.trial, error, cancelled)

    def _finish(
        self, handle: ServerGoalHandle, trial: TrialResult | None, error: str, cancelled: bool
    ) -> RunTask.Result:
        """End the goal: the trial's record is committed first, and the result names the trial."""
        if trial is not None:
            self.sink.record(
                "phase", phase="done", substep=trial.substeps, plan=[], current_subtask=0, code="",
                replans=trial.replans,
            )  # fmt: skip
        self.store.flush(timeout=2.0)
        success = trial is not None and trial.success and not error
        if cancelled and handle.is_cancel_requested:
            handle.canceled()
        else:
            (handle.succeed if success else handle.abort)()
        error = error if len(error) <= 2000 else error[:2000] + " ..."
        if trial is None:  # ended before a trial began
            return RunTask.Result(success=False, progress=-1.0, summary=error)
        summary = trial.summary
        if error and error.split(": ", 1)[-1][:200] not in summary:  # e.g. a failure while reflecting
            summary += f"; then {error}"
        return RunTask.Result(
            success=success,
            progress=trial.progress,
            summary=f"{summary} [trace: trial {trial.trial_id} in {self.store.path}]",
            trial_id=trial.trial_id,
            substeps=trial.substeps,
            replans=trial.replans,
        )

    def close(self) -> None:
        """Called by run_node on SIGINT/SIGTERM: a running trial is cancelled (the robot stops, the trial
        is recorded as cancelled) and its goal ends; new goals are refused."""
        self.scene.call_timeout_s = 0.5  # the sim may be stopping too: score the trial without waiting
        self._closing.set()

    def destroy_node(self) -> None:
        if self.scene.video is not None:
            self.scene.video.stop()
        self.sandbox.close()
        self.tools_ros.close()
        self.store.close()
        super().destroy_node()


def main(args: Sequence[str] | None = None) -> int:
    return run_node(AgentNode, args)


if __name__ == "__main__":
    sys.exit(main())
