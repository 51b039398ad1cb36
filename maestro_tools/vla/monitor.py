"""When is a policy's subtask done, and is the policy still getting anywhere?

A ``Monitor`` runs its checks in a background thread, each at its own period, and keeps the latest
verdict; it says done when any check does. The checks:

- ``VlmCheck``: a yes/no question about the latest camera image to any ``maestro_tools.vlm`` backend
  (Gemini, an OpenAI-compatible server, a local one), about twice a second (a slower model: as fast as
  it answers), as the published system did;
- ``ConditionCheck``: a scene condition the caller gives as a function (a detection, a keypoint distance);
- ``ProgressCheck``: the simulation's task progress (its staged rubric), for evaluation.

``NoProgressWatch`` is the other way out: the arm has not moved, or the policy has commanded ~nothing,
for a while. Plain Python (no ROS): the node hands the checks functions that read its topics and services.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError, MaestroError
from maestro_tools.vlm.base import VLM, Message, VLMRequest

log = logging.getLogger(__name__)
SYSTEM = "You watch a robot carry out a task and answer questions about the camera image with yes or no."
QUESTION = 'Has the robot completed this task: "{instruction}"? Answer yes or no, then one short reason.'


@dataclass(frozen=True)
class Verdict:
    done: bool
    source: str  # the check that gave it: vlm, condition, progress; "" before any
    detail: str  # what it saw, for feedback and the result
    progress: float = -1.0  # 0..1 where the check can tell, -1 otherwise

    def __str__(self) -> str:
        state = "done" if self.done else "not done"
        return f"{self.source}: {state}" + (f" ({self.detail})" if self.detail else "")


NOT_YET = Verdict(False, "", "no verdict yet")


class Check:
    """One way to tell done; ``__call__`` returns a Verdict and may raise (the monitor records it)."""

    name = "check"
    period = 0.5  # s between the starts of two calls

    def __call__(self) -> Verdict:
        raise NotImplementedError


def _period(period: float) -> float:
    if not 0.01 <= period <= 60.0:
        raise InvalidArgumentError(f"a monitor period must be in [0.01, 60] s, got {period!r}")
    return float(period)


def parse_yes_no(text: str) -> bool | None:
    """True for an answer starting yes, False for no, None when it says neither first."""
    match = re.search(r"\b(yes|no)\b", text.strip().lower())
    return None if match is None else match.group(1) == "yes"


class VlmCheck(Check):
    """Asks ``vlm`` whether the subtask is done, about the newest image from ``image()``."""

    name = "vlm"

    def __init__(
        self,
        vlm: VLM,
        instruction: str,
        image: Callable[[], np.ndarray | None],
        question: str = "",
        period: float = 0.5,
    ) -> None:
        self.vlm, self.image, self.period = vlm, image, _period(period)
        self.question = question.strip() or QUESTION.format(instruction=instruction.strip())

    def __call__(self) -> Verdict:
        image = self.image()
        if image is None:
            return Verdict(False, self.name, "no camera image yet")
        request = VLMRequest(SYSTEM, (Message("user", (image, self.question)),), "perceive", self.question)
        answer = self.vlm.generate(request).text.strip()
        said = parse_yes_no(answer)
        short = " ".join(answer.split())[:120]
        return Verdict(bool(said), self.name, f"asked {self.question!r}; the VLM answered {short!r}")


class ConditionCheck(Check):
    """The caller's scene condition: ``condition()`` returns done, or (done, what it measured)."""

    name = "condition"

    def __init__(
        self, condition: Callable[[], bool | tuple[bool, str]], description: str, period: float = 0.5
    ) -> None:
        self.condition, self.description, self.period = condition, description, _period(period)

    def __call__(self) -> Verdict:
        outcome = self.condition()
        done, measured = outcome if isinstance(outcome, tuple) else (bool(outcome), "")
        detail = self.description + (f": {measured}" if measured else "")
        return Verdict(bool(done), self.name, detail)


class ProgressCheck(Check):
    """The task's progress score (0..100, from ``progress()`` with a note) reaching ``threshold``."""

    name = "progress"

    def __init__(
        self, progress: Callable[[], tuple[float, str]], threshold: float = 100.0, period: float = 0.5
    ) -> None:
        if not 0.0 < threshold <= 100.0:
            raise InvalidArgumentError(f"a progress threshold must be in (0, 100], got {threshold!r}")
        self.progress, self.threshold, self.period = progress, float(threshold), _period(period)

    def __call__(self) -> Verdict:
        score, note = self.progress()
        detail = f"task progress {score:.0f}/100 (done at {self.threshold:g})" + (f"; {note}" if note else "")
        return Verdict(score >= self.threshold - 1e-6, self.name, detail, float(np.clip(score / 100.0, 0, 1)))


class Monitor:
    """Runs ``checks`` in a background thread between ``start`` and ``stop``; ``verdict`` is the latest."""

    def __init__(self, checks: Sequence[Check]) -> None:
        self.checks = tuple(checks)
        self._verdict, self.last_error, self.calls = NOT_YET, "", 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def verdict(self) -> Verdict:
        with self._lock:
            return self._verdict

    @property
    def done(self) -> bool:
        return self.verdict.done

    def check_once(self) -> Verdict:
        """Run every check now (in this thread); the first that says done wins, else the last verdict."""
        for check in self.checks:
            self._run(check)
            if self.done:
                break
        return self.verdict

    def _run(self, check: Check) -> None:
        try:
            verdict = check()
        except MaestroError as exc:
            self.last_error = f"{check.name}: {exc}"
            log.warning("monitor check %s failed: %s", check.name, exc)
            return
        except Exception as exc:  # a check must never kill the monitor
            self.last_error = f"{check.name}: {type(exc).__name__}: {exc}"
            log.exception("monitor check %s failed", check.name)
            return
        with self._lock:
            self.calls += 1
            if not self._verdict.done:  # done is final
                self._verdict = verdict

    def start(self) -> Monitor:
        if self.checks and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="vla-monitor", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop asking; a check still running (a slow VLM call) finishes in the background."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        due = {id(check): 0.0 for check in self.checks}
        while not self._stop.is_set() and not self.done:
            now = time.monotonic()
            for check in self.checks:
                if now >= due[id(check)] and not self._stop.is_set():
                    due[id(check)] = now + check.period
                    self._run(check)
            self._stop.wait(max(0.005, min(due.values()) - time.monotonic()))


class NoProgressWatch:
    """No progress: over the last ``window`` s of execution the arm moved less than ``tolerance`` rad
    (largest joint), or the policy commanded less than that in all, and the gripper neither moved nor was
    told to. Time between steps beyond ``max_step`` s (waiting for the server's next chunk) does not count:
    a slow or vanishing server is not a policy that commands nothing (its end is SERVER_GONE or a
    timeout; under load, a server stopping mid-run was once called NO_PROGRESS)."""

    def __init__(
        self,
        window: float = 3.0,
        tolerance: float = 0.01,
        gripper_tolerance: float = 0.005,
        max_step: float = 0.25,
    ) -> None:
        if window <= 0 or tolerance <= 0 or gripper_tolerance <= 0 or max_step <= 0:
            raise InvalidArgumentError("the no-progress window, tolerances and max_step must be > 0")
        self.window, self.tolerance, self.gripper_tolerance = window, tolerance, gripper_tolerance
        self.max_step = max_step
        self._samples: deque[tuple[float, np.ndarray, float, float, float]] = deque()
        self._last: float | None = None  # the last step's time (the caller's clock)
        self._active = 0.0  # execution time so far (s): the samples' clock

    def reset(self) -> None:
        self._samples.clear()
        self._last, self._active = None, 0.0

    def update(
        self, now: float, joints: np.ndarray, width: float, commanded: float, target_width: float
    ) -> None:
        """One control step: measured joints (rad) and opening (m), the step's commanded motion (rad) and
        the gripper's target opening (m)."""
        if self._last is not None:
            self._active += min(max(now - self._last, 0.0), self.max_step)
        self._last, now = now, self._active
        self._samples.append((now, np.asarray(joints, dtype=float).copy(), width, commanded, target_width))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()

    def stalled(self) -> str:
        """Why the policy is getting nowhere, or "" while it is (or the window is not full yet)."""
        if len(self._samples) < 2 or self._samples[-1][0] - self._samples[0][0] < self.window:
            return ""
        joints = np.array([s[1] for s in self._samples])
        widths = np.array([(s[2], s[4]) for s in self._samples])
        if np.ptp(widths, axis=0).max() > self.gripper_tolerance:
            return ""
        moved = float(np.abs(joints - joints[0]).max())
        commanded = float(sum(s[3] for s in list(self._samples)[1:]))
        if commanded < self.tolerance:
            return f"the policy commanded ~no motion ({commanded:.4f} rad) for {self.window:g} s"
        if moved < self.tolerance:
            return f"the arm moved {moved:.4f} rad in {self.window:g} s although the policy commanded motion"
        return ""
