"""One run() call of the sandbox: its limits, what it collects, and the Execution it returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from maestro_agent.sandbox.policy import Violation

Status = Literal["ok", "error", "violation", "timeout", "cancelled", "crashed"]
STDOUT_LIMIT = 20_000  # the child sends at most its first and last 10 000 characters
STDOUT_BUDGET = STDOUT_LIMIT + 200  # what this side accepts of a run's output (the cut note included)
MAX_EVENTS_PER_RUN = 10_000
MAX_IMAGES_PER_RUN = 64
MAX_CALLS_PER_RUN = 20_000
CHILD_EVENTS = frozenset({"outcome"})  # event kinds the child may send (tool events come from this side)
RESTART_NOTE = (
    "The sandbox process was restarted: variables, imports and functions defined by earlier "
    "substeps are lost; define again whatever the next code needs."
)


@dataclass(frozen=True)
class SandboxLimits:
    wall_s: float = 180.0  # wall-clock time per run() call
    cpu_s: float = 60.0  # CPU seconds of the child process per run() call
    memory_mb: int = 3072  # RLIMIT_AS of the child: all its mappings, shared ones included
    grace_s: float = 1.0  # after a timeout or cancel, how long the code has before SIGKILL + restart
    start_s: float = 60.0  # start-up of the child including setup

    def __post_init__(self) -> None:
        for name in ("wall_s", "cpu_s", "memory_mb", "grace_s", "start_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"SandboxLimits.{name} must be a positive number, got {value!r}")
        if self.memory_mb < 256:
            raise ValueError(
                f"SandboxLimits.memory_mb must be at least 256 (Python and numpy), got {self.memory_mb}"
            )


@dataclass(frozen=True)
class Execution:
    status: Status
    stdout: str
    error: str
    error_type: str
    error_line: int | None
    images: tuple[tuple[str, np.ndarray], ...]
    events: tuple[dict, ...]
    duration_s: float
    restarted: bool
    violations: tuple[Violation, ...]


class Run:
    """What arrives during one run() call, from the child and from the tools it calls."""

    def __init__(self, run_id: int, notify: Callable[[dict], None] = lambda note: None) -> None:
        self.id = run_id
        self.notify = notify  # live events (the agent streams them as feedback)
        self.t0 = time.monotonic()
        self.stdout: list[str] = []
        self.stdout_size = 0
        self.events: list[dict] = []
        self.images: list[tuple[str, np.ndarray]] = []
        self.line: int | None = None
        self.calls = 0
        self.cancel_at: float | None = None
        self.cancelled = threading.Event()  # seen by the tool call being served

    def record(self, event: dict) -> None:
        """An event of a tool (CallContext.on_event)."""
        if len(self.events) < MAX_EVENTS_PER_RUN:
            self.events.append(event)
        self.notify(event)

    def record_image(self, label: str, rgb: np.ndarray) -> None:
        """An image a tool showed (CallContext.on_image); it stays in this process."""
        if len(self.images) < MAX_IMAGES_PER_RUN:
            self.images.append((label[:200], rgb))
        self.notify({"kind": "image", "label": label[:200], "shape": list(rgb.shape), "t": self.elapsed()})

    def elapsed(self) -> float:
        return round(time.monotonic() - self.t0, 4)

    def child_message(self, msg: dict[str, Any]) -> None:
        """A streamed message of the child: its stdout, the line it runs, or a task outcome."""
        kind, t = msg.get("msg"), self.elapsed()
        if kind == "event":
            data = msg.get("data")
            if isinstance(data, dict) and data.get("kind") in CHILD_EVENTS:
                outcome = data.get("outcome") if data.get("outcome") in ("done", "failed") else "failed"
                reason = str(data.get("reason", ""))[:2000]
                self.record({"kind": "outcome", "outcome": outcome, "reason": reason, "t": t})
        elif kind == "line":
            line = msg.get("line")
            if type(line) is int:
                self.line = line
                self.notify({"kind": "line", "line": line, "t": t})
        elif kind == "stdout" and self.stdout_size < STDOUT_BUDGET:
            text = str(msg.get("text", ""))[: STDOUT_BUDGET - self.stdout_size]
            self.stdout.append(text)
            self.stdout_size += len(text)
            self.notify({"kind": "stdout", "text": text, "t": t})

    def execution(self, status: Status, t0: float, **fields: Any) -> Execution:
        stdout = "".join(self.stdout)
        if self.stdout_size >= STDOUT_BUDGET:  # more than a well-behaved child sends
            stdout += f"\n[output truncated at {STDOUT_BUDGET} characters]"
        fields.setdefault("error_type", "")
        return Execution(
            status=status,
            stdout=stdout,
            images=tuple(self.images),
            events=tuple(self.events),
            duration_s=round(time.monotonic() - t0, 4),
            violations=(),
            **fields,
        )


def refused(violations: list[Violation]) -> Execution:
    """The Execution of code the policy check refused (it was not run)."""
    syntax = violations[0].message.startswith("SyntaxError")
    lines = "\n".join(f"  line {v.line}: {v.message}" for v in violations)
    return Execution(
        status="violation",
        stdout="",
        error=f"The code was not run; it breaks the sandbox rules:\n{lines}",
        error_type="SyntaxError" if syntax else "PolicyViolation",
        error_line=violations[0].line,
        images=(),
        events=(),
        duration_s=0.0,
        restarted=False,
        violations=tuple(violations),
    )
