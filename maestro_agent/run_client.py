"""``maestro run "instruction"``: send a RunTask goal, show live progress, print the result.

Ctrl-C cancels the goal (the agent stops the sandbox and the robot) and waits for the result.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from maestro_msgs.action import RunTask
from maestro_msgs.srv import ResetScene
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.errors import MaestroTimeoutError, UnavailableError, error_from_code
from maestro_tools.common.spinning import BackgroundSpinner, wait_future_blocking


@dataclass(frozen=True)
class RunOptions:
    instruction: str
    max_substeps: int = 0
    trials: int = 1
    namespace: str = "/maestro"
    task: str = ""  # reset the simulated scene to this task first ("" = no reset)
    seed: int = 0
    perturbation: str = ""
    server_timeout_s: float = 30.0


def bar(substep: int, budget: int, width: int = 20) -> str:
    filled = min(width, round(width * substep / budget)) if budget else 0
    return "[" + "#" * filled + "." * (width - filled) + f"] {substep}/{budget or '?'}"


class ProgressPrinter:
    """One line per phase change or substep: phase, progress bar over substeps, current subtask."""

    def __init__(self, budget: int, out: TextIO) -> None:
        self.budget, self.out, self.last = budget, out, ("", -1, -1)

    def __call__(self, message: Any) -> None:
        fb = message.feedback
        key = (fb.phase, fb.substep, fb.current_subtask)
        if key == self.last:
            return
        self.last = key
        within = fb.phase not in ("done", "planning") and fb.current_subtask < len(fb.plan)
        subtask = fb.plan[fb.current_subtask] if within else ""
        replans = f" replans {fb.replans}" if fb.replans else ""
        print(f"{fb.phase:<11} {bar(fb.substep, self.budget)}{replans}  {subtask}", file=self.out, flush=True)


def _wait(future: Any, timeout: float, what: str) -> Any:
    result = wait_future_blocking(future, timeout)
    if not future.done():
        raise MaestroTimeoutError(f"{what} did not answer within {timeout:.0f} s")
    return result


def run(options: RunOptions, out: TextIO = sys.stdout) -> int:
    """Run one goal; 0 when the task succeeded, 1 when it failed or was cancelled."""
    context = Context()
    rclpy.init(context=context)
    node = Node("maestro_run", namespace=options.namespace, context=context)
    spinner = BackgroundSpinner(MultiThreadedExecutor(num_threads=2, context=context))
    spinner.executor.add_node(node)
    spinner.start()
    try:
        if options.task:
            reset = node.create_client(ResetScene, "reset_scene")
            if not reset.wait_for_service(timeout_sec=options.server_timeout_s):
                raise UnavailableError(
                    f"{node.get_namespace()}/reset_scene is not available; is the sim running?"
                )
            request = ResetScene.Request(
                task=options.task, seed=options.seed, perturbation=options.perturbation
            )
            response = _wait(reset.call_async(request), 30.0, "reset_scene")
            if not response.success:
                raise error_from_code(response.error_code, response.message)
            print(f"scene: {response.task} (seed {options.seed}): {response.instruction}", file=out)
        client = ThreadSafeActionClient(node, RunTask, "run_task")
        if not client.wait_for_server(timeout_sec=options.server_timeout_s):
            raise UnavailableError(
                f"{node.get_namespace()}/run_task is not available; start the graph: maestro launch franka"
            )
        goal = RunTask.Goal(
            instruction=options.instruction, max_substeps=options.max_substeps, trials=options.trials
        )
        handle = _wait(
            client.send_goal_async(goal, feedback_callback=ProgressPrinter(options.max_substeps or 20, out)),
            10.0,
            "run_task",
        )
        if not handle.accepted:
            print("the agent rejected the goal", file=out)
            return 1
        result_future = handle.get_result_async()
        try:
            while not result_future.done():
                time.sleep(0.05)
        except KeyboardInterrupt:
            print("cancelling ...", file=out, flush=True)
            _wait(handle.cancel_goal_async(), 10.0, "cancel")
            _wait(result_future, 30.0, "the cancelled goal's result")
        result = result_future.result().result
        progress = f"{result.progress:.0f}/100" if result.progress >= 0 else "not scored"
        print(
            f"{'SUCCESS' if result.success else 'FAILED'}: {result.summary}\n"
            f"progress {progress}, substeps {result.substeps}, replans {result.replans}, "
            f"trial {result.trial_id}",
            file=out,
        )
        return 0 if result.success else 1
    finally:
        spinner.stop()
        node.destroy_node()
        rclpy.shutdown(context=context)
