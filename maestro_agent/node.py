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
import traceback
from collections.abc import Sequence
from typing import Any

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState

from maestro_agent import prompt
from maestro_agent.bringup.paths import share_dir
from maestro_agent.loop import Agent, LoopConfig, TaskCancelledError
from maestro_agent.ros_scene import RosScene, RosSink
from maestro_agent.sandbox import Sandbox, SandboxLimits
from maestro_agent.traces.recorder import TraceRecorder
from maestro_agent.traces.store import TraceStore
from maestro_agent.vlm_backends import create_vlm
from maestro_msgs.action import RunTask
from maestro_tools.common.errors import MaestroError
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.qos import STATE_QOS
from maestro_tools.robots.params import declare_robot

VLM_CHOICES = ("gemini", "openai", "scripted")


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
        limits = SandboxLimits(
            wall_s=declare(
                self, "substep_wall_s", 180.0, "Wall-time limit of one substep's code, s", minimum=1.0
            ),
            cpu_s=declare(
                self, "substep_cpu_s", 60.0, "CPU-time limit of one substep's code, s", minimum=1.0
            ),
            memory_mb=declare(
                self, "sandbox_memory_mb", 3072, "Memory limit of the sandbox process, MiB", minimum=256
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
            options = {"programs": programs or str(share_dir() / "config" / "programs")}
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
        )
        trace_dir = declare(
            self,
            "trace_dir",
            os.environ.get("MAESTRO_TRACE_DIR", "~/.maestro/traces"),
            "Trace store folder (traces.db + images); MAESTRO_TRACE_DIR sets the default",
            read_only=True,
        )
        self.store = TraceStore(trace_dir)
        recorder = TraceRecorder(self.store, backend, harness, task_type=lambda: self.scene.task)
        self.sink = RosSink(self, recorder)
        self.create_subscription(
            JointState,
            interface["joint_states_topic"],
            lambda m: recorder.robot_state(list(m.name), list(m.position)),
            STATE_QOS,
            callback_group=group,
        )
        namespace = self.get_namespace()
        self.sandbox = Sandbox(
            setup="maestro_agent.proxy.session:make_globals",
            setup_kwargs={
                "robot": self.robot.name,
                "namespace": namespace,
                "harness": harness,
                "interface": interface,
            },
            limits=limits,
            on_event=self.sink.live,
        )
        self.sandbox.start()
        self.system = prompt.system_prompt(self.robot.name, harness)
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
        if not self._busy.acquire(blocking=False):
            handle.abort()
            return RunTask.Result(
                success=False,
                progress=-1.0,
                summary=f"busy: the agent is running {self._running!r}; cancel that goal or wait",
            )
        try:
            return self._run(handle, goal)
        finally:
            self._running = ""
            self._busy.release()

    def _run(self, handle: ServerGoalHandle, goal: RunTask.Goal) -> RunTask.Result:
        if self.vlm is None:
            handle.abort()
            return RunTask.Result(success=False, progress=-1.0, summary=self.vlm_error)
        self._running = goal.instruction
        agent = Agent(
            self.vlm, self.sandbox, self.scene, self.sink.for_goal(handle), self.config, self.system
        )
        watching = threading.Event()

        def watch_cancel() -> None:
            while not watching.wait(0.02):
                if handle.is_cancel_requested or self._closing.is_set():
                    agent.cancel()
                    return

        watcher = threading.Thread(target=watch_cancel, name="run-task-cancel", daemon=True)
        watcher.start()
        try:
            trial = agent.run_task(goal.instruction, goal.max_substeps, goal.trials)
        except TaskCancelledError:
            handle.canceled()
            return RunTask.Result(
                success=False, progress=self.scene.progress(), summary="cancelled; the robot was stopped"
            )
        except MaestroError as exc:
            self.get_logger().error(f"run_task {goal.instruction!r}: {exc}")
            handle.abort()
            return RunTask.Result(success=False, progress=-1.0, summary=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug must fail the goal, not the node
            self.get_logger().error(f"run_task {goal.instruction!r} failed:\n{traceback.format_exc()}")
            handle.abort()
            return RunTask.Result(
                success=False, progress=-1.0, summary=f"internal error: {type(exc).__name__}: {exc}"
            )
        finally:
            watching.set()
            watcher.join(1.0)
        self.sink.for_goal(handle).record(
            "phase",
            phase="done",
            substep=trial.substeps,
            plan=[],
            current_subtask=0,
            code="",
            replans=trial.replans,
        )
        (handle.succeed if trial.success else handle.abort)()
        self.store.flush()
        summary = f"{trial.summary} [trace: trial {trial.trial_id} in {self.store.path}]"
        return RunTask.Result(
            success=trial.success,
            progress=trial.progress,
            summary=summary,
            trial_id=trial.trial_id,
            substeps=trial.substeps,
            replans=trial.replans,
        )

    def close(self) -> None:
        """Called by run_node on SIGINT/SIGTERM: a running trial is cancelled (the robot stops) and ends."""
        self._closing.set()

    def destroy_node(self) -> None:
        self.sandbox.close()
        self.store.close()
        super().destroy_node()


def main(args: Sequence[str] | None = None) -> int:
    return run_node(AgentNode, args)


if __name__ == "__main__":
    sys.exit(main())
