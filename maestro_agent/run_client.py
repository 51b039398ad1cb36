"""``maestro run "instruction"``: send a RunTask goal, show live progress, print the result.

With ``--task`` the simulated scene is reset first; without an instruction the scene's own one is sent
(the paraphrase, under the language perturbation). ``execute`` is the same as a function for sweeps.

Ctrl-C cancels the goal (the agent stops the sandbox and the robot) and waits for the result.
The client never waits on a dead agent: while a goal runs the agent repeats its feedback every second,
so when the run_task server leaves the graph or nothing is heard for ``silence_s`` seconds, `maestro run`
says so and fails (exit 2) instead of waiting.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import rclpy
from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from maestro_agent.goals import check_task
from maestro_msgs.action import RunTask
from maestro_msgs.srv import ResetScene
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.errors import MaestroTimeoutError, UnavailableError, error_from_code
from maestro_tools.common.spinning import BackgroundSpinner, wait_future_blocking
from maestro_tools.common.teardown import close_context, destroy_node


@dataclass(frozen=True)
class RunOptions:
    instruction: str  # "" with a task: the scene's instruction
    max_substeps: int = 0
    trials: int = 1
    namespace: str = "/maestro"
    task: str = ""  # reset the simulated scene to this task first ("" = no reset)
    seed: int = 0
    perturbation: str = ""
    server_timeout_s: float = 30.0
    silence_s: float = 5.0  # nothing heard from a running goal for this long: the agent is gone


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
        if key == self.last or not fb.phase:  # repeated (the agent's heartbeat) or not started
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


class GoalWatch:
    """Waits on a goal's futures while checking that its agent lives: the run_task server is in the
    graph (checked every ``check_s``) and the goal was heard from (feedback, repeated every second by
    the agent) within ``silence_s``."""

    GONE = "the goal's end is unknown: the agent's log and `maestro dashboard` tell how far it got"

    def __init__(self, client: ActionClient, silence_s: float, check_s: float = 0.5) -> None:
        self.client, self.silence_s, self.check_s = client, silence_s, check_s
        self.heard = time.monotonic()

    def feedback(self, printer: Callable[[Any], None]) -> Callable[[Any], None]:
        def on_feedback(message: Any) -> None:
            self.heard = time.monotonic()
            printer(message)

        return on_feedback

    def wait(self, future: Any, what: str, timeout: float | None = None, listen: bool = True) -> Any:
        """``future``'s result; ``listen``: the goal runs, so silence means a dead agent."""
        start = checked = time.monotonic()
        self.heard = max(self.heard, start)
        while not future.done():
            time.sleep(0.02)
            now = time.monotonic()
            if timeout is not None and now - start > timeout:
                raise MaestroTimeoutError(f"{what} did not answer within {timeout:.0f} s; {self.GONE}")
            if now - checked >= self.check_s:
                checked = now
                if not self.client.server_is_ready():
                    raise UnavailableError(
                        f"the agent's run_task server left the graph while waiting for {what} (the agent "
                        f"exited or was killed); {self.GONE}"
                    )
            if listen and now - self.heard > self.silence_s:
                raise UnavailableError(
                    f"nothing heard from the agent for {self.silence_s:.0f} s while waiting for {what} "
                    f"(a running goal's agent reports every second): it was killed or hangs; {self.GONE}"
                )
        return future.result()


@dataclass(frozen=True)
class Outcome:
    """What one goal came to: the agent's result (None when the goal was rejected), what was asked."""

    instruction: str
    result: RunTask.Result | None
    interrupted: bool = False  # the user pressed Ctrl-C (the goal was cancelled)


def interruptible() -> None:
    """Make SIGINT (Ctrl-C, ``kill -INT``) raise KeyboardInterrupt, which cancels the goal, even where it
    arrives ignored: bash starts background jobs with SIGINT ignored and Python keeps that, so a sweep or
    a test that started this process could not stop its goal. Main thread only (Python's rule)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def run(options: RunOptions, out: TextIO = sys.stdout) -> int:
    """Run one goal; 0 when the task succeeded, 1 when it failed or was cancelled. Raises a MaestroError
    (the CLI exits 2) for an invalid goal, an agent that is not there and one that died meanwhile."""
    interruptible()
    outcome = execute(options, out)
    if outcome.result is None:
        return 1
    result = outcome.result
    progress = f"{result.progress:.0f}/100" if result.progress >= 0 else "not scored"
    print(
        f"{'SUCCESS' if result.success else 'FAILED'}: {result.summary}\n"
        f"progress {progress}, substeps {result.substeps}, replans {result.replans}, trial {result.trial_id}",
        file=out,
    )
    return 0 if result.success else 1


def execute(options: RunOptions, out: TextIO = sys.stdout) -> Outcome:
    """Reset the scene (with a task), send the goal, print its progress to ``out``, wait for the result."""
    if options.instruction or not options.task:
        check_task(options.instruction, options.max_substeps, options.trials)
    else:
        check_task("scene instruction", options.max_substeps, options.trials)
    context = Context()
    rclpy.init(context=context)
    node = Node("maestro_run", namespace=options.namespace, context=context)
    spinner = BackgroundSpinner(MultiThreadedExecutor(num_threads=2, context=context))
    spinner.executor.add_node(node)
    spinner.start()
    try:
        instruction = options.instruction
        if options.task:
            scene = _reset(node, options)
            print(f"scene: {scene.task} (seed {options.seed}): {scene.instruction}", file=out)
            instruction = instruction or scene.instruction
        client = ThreadSafeActionClient(node, RunTask, "run_task")
        if not client.wait_for_server(timeout_sec=options.server_timeout_s):
            raise UnavailableError(
                f"{node.get_namespace()}/run_task is not available; start the graph: maestro launch franka"
            )
        goal = RunTask.Goal(instruction=instruction, max_substeps=options.max_substeps, trials=options.trials)
        watch = GoalWatch(client, options.silence_s)
        printer = watch.feedback(ProgressPrinter(options.max_substeps or 20, out))
        sent = client.send_goal_async(goal, feedback_callback=printer)
        interrupted = False
        try:
            handle = watch.wait(sent, "the goal's acceptance", 10.0, listen=False)
        except KeyboardInterrupt:  # the agent may be running the goal already: its handle cancels it
            interrupted = True
            handle = watch.wait(sent, "the goal's acceptance", 10.0, listen=False)
        if not handle.accepted:
            print("the agent rejected the goal", file=out)
            return Outcome(instruction, None, interrupted)
        result_future = handle.get_result_async()
        if not interrupted:
            try:
                response = watch.wait(result_future, "the goal's result")
            except KeyboardInterrupt:
                interrupted = True
        if interrupted:
            print("cancelling ...", file=out, flush=True)
            watch.wait(handle.cancel_goal_async(), "the cancel", 10.0)
            response = watch.wait(result_future, "the cancelled goal's result", 30.0)
        if response.status == GoalStatus.STATUS_UNKNOWN:  # answered by an agent that never had the goal
            raise UnavailableError(f"the agent no longer knows the goal (it was restarted); {GoalWatch.GONE}")
        return Outcome(instruction, response.result, interrupted)
    finally:
        spinner.stop()
        destroy_node(node)
        close_context(context)


def _reset(node: Node, options: RunOptions) -> ResetScene.Response:
    reset = node.create_client(ResetScene, "reset_scene")
    if not reset.wait_for_service(timeout_sec=options.server_timeout_s):
        raise UnavailableError(f"{node.get_namespace()}/reset_scene is not available; is the sim running?")
    request = ResetScene.Request(task=options.task, seed=options.seed, perturbation=options.perturbation)
    response = _wait(reset.call_async(request), 30.0, "reset_scene")
    if not response.success:
        raise error_from_code(response.error_code, response.message)
    return response
