"""The closed loop: plan -> (execute -> observe -> react)* per trial, and reflection across trials.

Plain Python: the VLM, the sandbox, the scene (images and score) and the event sink are passed in, so the
loop runs the same under the ROS node, in tests with fakes, and in benchmarks.

Every trial ends with one ``outcome`` event, however it ends: its ``outcome`` is one of OUTCOMES, with
the progress at that moment (-1 if unknown) and the reason. A cancel is honoured in every phase: VLM
calls run in a worker thread the loop waits on, so a stalled call is abandoned, not waited for.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from maestro_agent import prompt
from maestro_agent.goals import MAX_INSTRUCTION_CHARS, MAX_SUBSTEPS, MAX_TRIALS, OUTCOMES, check_task
from maestro_agent.prompt import Step
from maestro_agent.replies import (
    Decision,
    Judgement,
    PlanReply,
    ReplyFormatError,
    parse_judgement,
    parse_plan,
)
from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.common.validate import quote  # messages and logs quote a prefix of long values
from maestro_tools.vlm.base import VLM, Message, VLMError, VLMReply, VLMRequest

Images = list[tuple[str, np.ndarray]]

_ENDED_BY = {
    "cancelled": "cancelled",
    "vlm_error": "stopped by a VLM error",
    "unusable_reply": "stopped by an unusable VLM reply",
    "error": "aborted by an error",
}


def _error_kind(exc: Exception) -> str:
    if isinstance(exc, ReplyFormatError):
        return "unusable_reply"
    return "vlm_error" if isinstance(exc, VLMError) else "error"


class SandboxLike(Protocol):
    def run(self, code: str) -> Any: ...  # -> maestro_agent.sandbox.Execution
    def reset(self) -> None: ...
    def cancel(self) -> None: ...


class Scene(Protocol):
    """What the agent reads from the world besides the sandbox: camera snapshots and the task score."""

    overview_camera: str  # the camera shown after each substep (the workspace as a whole)

    def snapshot(self, cameras: Sequence[str] = ...) -> Images: ...  # default: every camera
    def progress(self) -> float: ...  # 0..100, or -1 where the scene cannot score the task
    def prepare_trial(self, index: int) -> None: ...  # e.g. reset a simulated scene before trial `index` > 0


class Video(Protocol):
    """A trial's recorded video (maestro_agent.traces.video.VideoRecorder): a Scene offers one as its
    ``video`` attribute, and the reflection sees keyframes of it."""

    def keyframes(self, trial_id: str, count: int) -> Images: ...  # by time: spread, and at failures


REFLECT_FRAMES = 8  # keyframes a reflection sees (of the video; else up to 6 substep images)


class Sink(Protocol):
    """Receives every event of a trial: feedback for the action, records for the trace store."""

    def record(self, kind: str, **fields: Any) -> None: ...


@dataclass(frozen=True)
class LoopConfig:
    max_substeps: int = 20
    max_images: int = 4  # images per react observation (the newest)
    stdout_limit: int = 3000
    format_retries: int = 1  # corrected replies asked for after an unusable one

    def __post_init__(self) -> None:
        if self.max_substeps < 1 or self.max_images < 0 or self.format_retries < 0:
            raise InvalidArgumentError("max_substeps must be >= 1, max_images and format_retries >= 0")


@dataclass
class TrialResult:
    trial_id: str
    success: bool
    progress: float
    summary: str
    substeps: int = 0
    replans: int = 0
    steps: list[Step] = field(default_factory=list)
    keyframes: Images = field(default_factory=list)


class TaskCancelledError(Exception):
    """The goal was cancelled; the loop stopped the sandbox. The message is the cancel's reason."""


class Agent:
    """Runs one task (``run_task``); a cancel stays in force for the agent's life."""

    def __init__(
        self,
        vlm: VLM,
        sandbox: SandboxLike,
        scene: Scene,
        sink: Sink,
        config: LoopConfig,
        system: str,
        poll_s: float = 0.02,
    ) -> None:
        self.vlm, self.sandbox, self.scene, self.sink, self.config = vlm, sandbox, scene, sink, config
        self.system, self.poll_s = system, poll_s
        self.cancelled = threading.Event()
        self.cancel_reason = ""
        self.trial: TrialResult | None = None  # the running (or last) trial: its id after any end

    # -- VLM calls ---------------------------------------------------------------------------------
    def _ask(
        self, purpose: str, instruction: str, message: Message, parse: Callable[[str], Any]
    ) -> tuple[Any, VLMReply]:
        messages = [message]
        for attempt in range(self.config.format_retries + 1):
            reply = self._generate(VLMRequest(self.system, tuple(messages), purpose, instruction))
            self.sink.record(
                "tokens",
                purpose=purpose,
                input_tokens=reply.usage.input_tokens,
                output_tokens=reply.usage.output_tokens,
                seconds=reply.seconds,
                model=reply.model,
            )
            try:
                return parse(reply.text), reply
            except ReplyFormatError as exc:
                if attempt == self.config.format_retries:
                    raise
                messages += [Message("model", (reply.text,)), prompt.correction_message(str(exc), purpose)]
        raise AssertionError("unreachable")

    def _generate(self, request: VLMRequest) -> VLMReply:
        """The VLM call in a daemon thread, waited on with the cancel: a cancelled wait abandons the
        call (it ends in its own time, its reply dropped)."""
        self._check_cancel()
        box: list[Any] = []
        done = threading.Event()

        def call() -> None:
            try:
                box.append(self.vlm.generate(request))
            except BaseException as exc:  # handed to the waiting loop
                box.append(exc)
            finally:
                done.set()

        threading.Thread(target=call, name=f"vlm-{request.purpose}", daemon=True).start()
        while not done.wait(self.poll_s):
            self._check_cancel()
        self._check_cancel()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def _check_cancel(self) -> None:
        if self.cancelled.is_set():
            raise TaskCancelledError(self.cancel_reason or "cancelled")

    def cancel(self, reason: str = "the goal was cancelled") -> None:
        """Thread-safe and repeatable: stop the running substep (the sandbox cancels the robot's actions),
        a VLM call in flight, and the loop. The first reason given is kept."""
        if not self.cancelled.is_set():
            self.cancel_reason = reason
            self.cancelled.set()
        self.sandbox.cancel()

    def _phase(
        self, phase: str, trial: TrialResult, plan: list[str], current: int, code: str, **extra: Any
    ) -> None:
        self.sink.record(
            "phase", phase=phase, substep=trial.substeps, plan=plan, current_subtask=current, code=code,
            replans=trial.replans, **extra,
        )  # fmt: skip

    # -- one trial ---------------------------------------------------------------------------------
    def run_trial(
        self, instruction: str, history: Sequence[str], max_substeps: int = 0, index: int = 0
    ) -> TrialResult:
        budget = max_substeps or self.config.max_substeps
        trial = TrialResult(trial_id=uuid.uuid4().hex[:12], success=False, progress=-1.0, summary="")
        self.trial = trial
        self.sink.record("trial_start", trial_id=trial.trial_id, instruction=instruction, index=index)
        try:
            kind, reason = self._trial(trial, instruction, history, budget)
        except TaskCancelledError as exc:
            self._end(trial, "cancelled", str(exc))
            raise
        except Exception as exc:  # ends the trial's record, then fails the task
            self._end(trial, _error_kind(exc), f"{type(exc).__name__}: {exc}")
            raise
        self._end(trial, kind, reason)
        return trial

    def _trial(
        self, trial: TrialResult, instruction: str, history: Sequence[str], budget: int
    ) -> tuple[str, str]:
        """The trial's loop; returns how it ended (an OUTCOMES kind, before the scene's score) and why."""
        self.sandbox.reset()
        self._check_cancel()
        images = self.scene.snapshot()
        self._check_cancel()
        trial.keyframes.extend(images[:1])
        self.sink.record("phase", phase="planning", substep=0, plan=[], current_subtask=0, code="", replans=0)
        for label, image in images:
            self.sink.record("image", label=label, image=image, substep=0)
        plan: PlanReply
        plan, _ = self._ask(
            "plan", instruction, prompt.plan_message(instruction, images, history, self._memory()), parse_plan
        )
        subtasks, code, current = list(plan.subtasks), plan.code, 0
        self.sink.record("plan", plan=subtasks, reasoning=plan.reasoning)
        kind, outcome = "budget_exhausted", "substep budget exhausted"
        while trial.substeps < budget:
            self._check_cancel()
            trial.substeps += 1
            subtask = subtasks[current] if current < len(subtasks) else "(beyond the plan)"
            self._phase("executing", trial, subtasks, current, code)
            self.sink.record("code", substep=trial.substeps, code=code, current_subtask=current)
            execution = self.sandbox.run(code)
            self._check_cancel()
            step = Step(trial.substeps, subtask, code, execution.status, execution.stdout, execution.error)
            failures = [
                f"{e.get('module')}.{e.get('function')}({e.get('arguments')}): {e.get('message')}"
                for e in execution.events
                if e.get("kind") == "tool_call" and not e.get("success", True) and e.get("depth", 0) == 0
            ]
            declared = [e for e in execution.events if e.get("kind") == "outcome"]
            overview = self.scene.snapshot([self.scene.overview_camera])
            seen = [*execution.images, *overview][-self.config.max_images :]
            for label, image in seen:
                self.sink.record("image", label=label, image=image, substep=trial.substeps)
            trial.keyframes.extend(seen[-1:])
            self._phase(
                "reacting", trial, subtasks, current, code,
                stdout_tail=execution.stdout[-500:], error=(execution.error or "")[-2000:],
            )  # fmt: skip
            message = prompt.react_message(
                instruction,
                subtasks,
                current,
                step,
                trial.steps,
                failures,
                seen,
                self.config.stdout_limit,
                self._memory(),
            )
            if declared:
                message = Message("user", (*message.parts, f"The code declared: {declared[-1]}"))
            judgement: Judgement
            judgement, _ = self._ask("react", instruction, message, parse_judgement)
            trial.steps.append(replace(step, decision=judgement.decision.value, reason=judgement.reason))
            self.sink.record(
                "judgement",
                substep=trial.substeps,
                decision=judgement.decision.value,
                reason=judgement.reason,
                reasoning=judgement.reasoning,
                progress=judgement.progress,
            )
            if judgement.decision in (Decision.COMPLETE, Decision.FAILED):
                outcome = judgement.reason or judgement.decision.value
                trial.success = judgement.decision == Decision.COMPLETE
                kind = "success" if trial.success else "failed"
                break
            if judgement.decision in (Decision.RETRY, Decision.REPLAN):
                trial.replans += 1
                if judgement.decision == Decision.REPLAN and judgement.subtasks:
                    subtasks = list(judgement.subtasks)
                self.sink.record(
                    "replan",
                    substep=trial.substeps,
                    plan=subtasks,
                    reason=judgement.reason,
                    decision=judgement.decision.value,
                )
                self._phase("replanning", trial, subtasks, current, judgement.code)
            if judgement.current_subtask is not None and 0 <= judgement.current_subtask < max(
                1, len(subtasks)
            ):
                current = judgement.current_subtask
            elif judgement.decision == Decision.CONTINUE:
                current = min(current + 1, max(0, len(subtasks) - 1))
            code = judgement.code
        return kind, outcome

    def _memory(self) -> str:
        """The semantic map's description where the scene offers one (``map_description``), else ""."""
        describe = getattr(self.scene, "map_description", None)
        try:
            return str(describe()) if callable(describe) else ""
        except Exception:  # the map is a help: its failure must not end the trial
            return ""

    def _progress(self) -> float:
        try:
            return float(self.scene.progress())
        except Exception:  # a trial ending on an error still gets its record
            return -1.0

    def _end(self, trial: TrialResult, kind: str, reason: str) -> None:
        """Score the trial and record its one ``outcome`` event (kind, progress now, reason)."""
        trial.progress = self._progress()
        if kind == "success" and 0 <= trial.progress < 100.0:
            kind, reason = "failed", f"{reason} (but the scene scores {trial.progress:.0f}/100)"
        trial.success = kind == "success"
        reason = reason if len(reason) <= 2000 else reason[:2000] + " ..."
        done = "succeeded" if trial.success else _ENDED_BY.get(kind, "failed")
        trial.summary = f"{done} after {trial.substeps} substep(s), {trial.replans} replan(s): {reason}"
        self.sink.record(
            "outcome",
            trial_id=trial.trial_id,
            outcome=kind,
            success=trial.success,
            progress=trial.progress,
            summary=trial.summary,
            reason=reason,
            substeps=trial.substeps,
            replans=trial.replans,
        )

    # -- across trials -----------------------------------------------------------------------------
    def run_task(self, instruction: str, max_substeps: int = 0, trials: int = 1) -> TrialResult:
        """Run up to ``trials`` trials, each after reflecting on the previous one; stop at a success."""
        check_task(instruction, max_substeps, trials)
        history: list[str] = []
        result: TrialResult | None = None
        for index in range(max(1, trials)):
            if index:
                self.scene.prepare_trial(index)
            result = self.run_trial(instruction, history, max_substeps, index)
            if result.success or index == max(1, trials) - 1:
                break
            history.append(self.reflect(instruction, result))
        assert result is not None
        return result

    def reflect(self, instruction: str, trial: TrialResult) -> str:
        self.sink.record(
            "phase",
            phase="reflecting",
            substep=trial.substeps,
            plan=[],
            current_subtask=0,
            code="",
            replans=trial.replans,
        )
        frames = self._reflection_frames(trial)
        message = prompt.reflect_message(instruction, trial.summary, trial.progress, trial.steps, frames)
        started = time.monotonic()
        reply = self._generate(VLMRequest(self.system, (message,), "reflect", instruction))
        text = reply.text.strip() or "(no reflection)"
        self.sink.record(
            "reflection", trial_id=trial.trial_id, text=text, seconds=time.monotonic() - started,
            keyframes=[label for label, _ in frames],
        )  # fmt: skip
        return f"trial {trial.trial_id}: {trial.summary}. Reflection: {text}"

    def _reflection_frames(self, trial: TrialResult) -> Images:
        """Keyframes of the trial's video where the scene recorded one, else the scene image after each
        substep."""
        video: Video | None = getattr(self.scene, "video", None)
        frames = video.keyframes(trial.trial_id, REFLECT_FRAMES) if video is not None else []
        return frames or trial.keyframes[:: max(1, len(trial.keyframes) // 6)][:6]


__all__ = [
    "MAX_INSTRUCTION_CHARS", "MAX_SUBSTEPS", "MAX_TRIALS", "OUTCOMES", "Agent", "LoopConfig", "Scene", "Sink",
    "TaskCancelledError", "TrialResult", "VLMError", "Video", "check_task", "quote",
]  # fmt: skip
