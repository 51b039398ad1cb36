"""Turns the agent's events (the loop's and the sandbox's) into trace store rows."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from maestro_agent.traces.store import TraceStore
from maestro_agent.traces.video import VideoRecorder

log = logging.getLogger(__name__)
BULKY = ("image",)


class TraceRecorder:
    """A loop ``Sink`` writing into a TraceStore; knows the current trial, substep and subtask.

    An agent's recorder: on creation it ends the trials of agents that died midway as interrupted
    (``mark_interrupted=False`` leaves them). With a ``video``, each trial is filmed from its start to
    its outcome, and its failed tool calls (those of the code itself) are marked on the video."""

    def __init__(
        self,
        store: TraceStore,
        vlm: str = "",
        harness: bool = True,
        task_type: Callable[[], str] = str,
        mark_interrupted: bool = True,
        video: VideoRecorder | None = None,
    ) -> None:
        self.store, self.vlm, self.harness, self.task_type = store, vlm, harness, task_type
        self.video = video
        self.trial_id, self.substep, self.subtask = "", 0, 0
        self.active, self._last_state = False, 0.0
        self.interrupted = store.mark_interrupted() if mark_interrupted else []
        if self.interrupted:
            log.warning(
                "trace store %s: %d trial(s) of agents that died midway marked interrupted: %s",
                store.path,
                len(self.interrupted),
                ", ".join(self.interrupted[:10]),
            )

    def robot_state(self, names: list[str], positions: list[float], period: float = 0.1) -> None:
        """Record the joints while a trial runs, at most every ``period`` seconds (wall clock)."""
        now = time.time()
        if self.active and now - self._last_state >= period:
            self._last_state = now
            self.store.robot_state(self.trial_id, now, names, positions)

    def record(self, kind: str, **fields: Any) -> None:
        if kind == "trial_start":
            self.trial_id, self.substep, self.subtask = fields["trial_id"], 0, 0
            self.active = True
            self.store.start_trial(
                self.trial_id, fields.get("instruction", ""), self.task_type(), self.vlm, self.harness
            )
            if self.video is not None:
                self.video.start(self.trial_id, lambda: self.substep)
            return
        if not self.trial_id:
            return
        if kind == "phase":
            self.substep = int(fields.get("substep", self.substep))
            self.subtask = int(fields.get("current_subtask", self.subtask))
        if kind == "tool_call":
            self.store.tool_call(self.trial_id, self.substep, fields)
            if self.video is not None and not fields.get("success", True) and not fields.get("depth", 0):
                failed = f"{fields.get('module')}.{fields.get('function')}"
                self.video.mark_failure(f"{failed} failed: {str(fields.get('message', ''))[:200]}")
            return
        if kind == "image" and isinstance(fields.get("image"), np.ndarray):
            self.store.image(
                self.trial_id,
                int(fields.get("substep", self.substep)),
                str(fields.get("label", "")),
                fields["image"],
            )
            return
        data = {k: v for k, v in fields.items() if k not in BULKY}
        line = int(data.pop("line", 0) or 0)
        data.pop("substep", None)
        self.store.event(self.trial_id, kind, self.substep, self.subtask, line, data)
        if kind == "outcome":
            self.active = False
            if self.video is not None:
                self.video.stop()
            self.store.end_trial(
                self.trial_id,
                bool(fields.get("success")),
                float(fields.get("progress", -1.0)),
                str(fields.get("summary", "")),
                int(fields.get("substeps", 0)),
                int(fields.get("replans", 0)),
                str(fields.get("outcome", "")),
                str(fields.get("reason", "")),
            )
