"""Sweeps of simulated trials: tasks x perturbation axes x seeds, each a RunTask goal on a running graph.

``SimGraph`` starts a bringup (``maestro launch ROBOT``) in its own process group and waits for the agent;
``run_trial`` resets the scene to one setting and runs the scene's own instruction (its paraphrase under
the language axis) through ``maestro run``'s client; ``table`` summarises the records as a Markdown table
(mean progress per task and axis). The reference-program tests and ``bench/program_sweep.py`` use it.
"""

from __future__ import annotations

import ctypes
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from maestro_agent.run_client import RunOptions, execute
from maestro_tools.common.errors import InvalidArgumentError, MaestroError

INTERRUPTED = "interrupted by the user (Ctrl-C): the goal was cancelled"
AXES = ("none", "visual", "pose", "new_object", "language")  # maestro_tools.sim.tasks.PERTURBATIONS


@dataclass(frozen=True)
class Setting:
    task: str
    seed: int = 0
    axis: str = "none"


@dataclass(frozen=True)
class TrialRecord:
    task: str
    seed: int
    axis: str
    instruction: str
    success: bool
    progress: float  # 0..100; 0 when the trial never ran (see error)
    substeps: int
    replans: int
    seconds: float  # wall time of the goal
    summary: str
    trial_id: str
    error: str = ""  # the client's error when the trial could not run (infrastructure, not the task)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class SimGraph:
    """A simulated bringup run as a child process group for the duration of a ``with`` block.

    The caller's environment must already name a private DDS domain (ROS_DOMAIN_ID, and
    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST); ``arguments`` are launch arguments (``name:=value``)."""

    def __init__(self, robot: str = "franka", arguments: Sequence[str] = ()) -> None:
        self.command = [sys.executable, "-m", "maestro_agent.cli", "launch", robot, *arguments]
        self.lines: list[str] = []
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> SimGraph:
        self._process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            start_new_session=True,
            preexec_fn=interrupt_when_parent_dies,
        )
        stdout = self._process.stdout
        threading.Thread(target=lambda: self.lines.extend(iter(stdout.readline, "")), daemon=True).start()
        return self

    def log_tail(self, characters: int = 4000) -> str:
        return "".join(self.lines)[-characters:]

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __exit__(self, *exc: object) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # the launcher stops its nodes and their keepers
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def interrupt_when_parent_dies() -> None:
    """In a child process: Linux sends it SIGINT (a clean shutdown) if its parent dies."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGINT, 0, 0, 0)


def run_trial(
    setting: Setting, namespace: str = "/maestro", max_substeps: int = 0, server_timeout_s: float = 120.0
) -> TrialRecord:
    """Reset the scene to ``setting`` and run its instruction; an infrastructure failure is recorded."""
    options = RunOptions(
        instruction="",
        max_substeps=max_substeps,
        namespace=namespace,
        task=setting.task,
        seed=setting.seed,
        perturbation=setting.axis,
        server_timeout_s=server_timeout_s,
    )
    log = io.StringIO()
    start = time.monotonic()
    try:
        outcome = execute(options, log)
    except MaestroError as error:
        return _failed(setting, "", start, f"{type(error).__name__}: {error}")
    if outcome.result is None:
        return _failed(setting, outcome.instruction, start, "the agent rejected the goal")
    result = outcome.result
    return TrialRecord(
        task=setting.task,
        seed=setting.seed,
        axis=setting.axis,
        instruction=outcome.instruction,
        success=bool(result.success),
        progress=max(0.0, float(result.progress)),
        substeps=int(result.substeps),
        replans=int(result.replans),
        seconds=round(time.monotonic() - start, 1),
        summary=result.summary,
        trial_id=result.trial_id,
        error=INTERRUPTED if outcome.interrupted else "",
    )


def _failed(setting: Setting, instruction: str, start: float, error: str) -> TrialRecord:
    seconds = round(time.monotonic() - start, 1)
    return TrialRecord(
        setting.task, setting.seed, setting.axis, instruction, False, 0.0, 0, 0, seconds, "", "", error
    )


def settings(tasks: Iterable[str], seeds: Iterable[int], axes: Iterable[str] = AXES) -> list[Setting]:
    unknown = sorted(set(axes) - set(AXES))
    if unknown:
        raise InvalidArgumentError(f"unknown perturbation axes {unknown}; valid: {', '.join(AXES)}")
    return [Setting(task, seed, axis) for task in tasks for axis in axes for seed in seeds]


def table(records: Sequence[TrialRecord]) -> str:
    """Mean progress per task (rows) and axis (columns) as Markdown, with each task's mean and successes."""
    axes = [axis for axis in AXES if any(r.axis == axis for r in records)]
    tasks = list(dict.fromkeys(r.task for r in records))
    lines = [
        "| task | " + " | ".join(axes) + " | mean | success |",
        "|---" * (len(axes) + 3) + "|",
    ]
    for task in tasks:
        mine = [r for r in records if r.task == task]
        cells = []
        for axis in axes:
            scores = [r.progress for r in mine if r.axis == axis]
            cells.append(f"{sum(scores) / len(scores):.0f}" if scores else "-")
        mean = sum(r.progress for r in mine) / len(mine)
        wins = sum(r.success for r in mine)
        lines.append(f"| {task} | " + " | ".join(cells) + f" | {mean:.1f} | {wins}/{len(mine)} |")
    return "\n".join(lines) + "\n"
