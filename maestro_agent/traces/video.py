"""The video of every trial: a camera recorded into the trace store at a few frames per second.

A background thread grabs one frame every 1/fps seconds while a trial runs (``start`` .. ``stop``; the
TraceRecorder calls them at the trial's start and outcome) and writes it downscaled as JPEG
(``TraceStore.video_frame``). A grab may subscribe for the frame only (a simulated camera then renders
only for it); a slow grab skips the slots it overran instead of grabbing back to back. A trial's video is
bounded: at ``max_frames`` every other frame is deleted and the interval doubles, so a long trial keeps
its whole span at a lower rate. The reflection gets keyframes of the last trial (``keyframes``): spread
over the video and at the moments its failed tool calls ended (``mark_failure``).
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from maestro_agent.traces.store import VIDEO_WIDTH, TraceStore

log = logging.getLogger(__name__)
Images = list[tuple[str, np.ndarray]]
FAILURE_FRAMES = 3  # keyframes at most at failures (of a reflection's)
GRAB_TIMEOUT_S = 2.0  # a grab's first frame: the first subscription of a process can take over 1 s
MAX_FRAMES = 1200  # per trial: 10 min at 2 fps (about 15 MB of sim frames); longer trials are thinned
Grab = Callable[[float], np.ndarray | None]  # (timeout s) -> an RGB frame taken now, None if none came


@dataclass
class Clip:
    """One trial's video as recorded so far."""

    trial_id: str
    interval: float
    frames: list[tuple[float, int, str]] = field(default_factory=list)  # (unix time, substep, path)
    failures: list[tuple[float, str]] = field(default_factory=list)  # (unix time, what failed)
    stop: threading.Event = field(default_factory=threading.Event)
    misses: int = 0  # grabs that brought no frame


class VideoRecorder:
    """Records ``grab`` at ``fps`` into ``store`` while a trial runs; keeps the last trial's index."""

    def __init__(
        self,
        store: TraceStore,
        grab: Grab,
        fps: float = 2.0,
        max_frames: int = MAX_FRAMES,
        width: int = VIDEO_WIDTH,
    ) -> None:
        if fps <= 0 or max_frames < 2:
            raise ValueError(f"video needs fps > 0 and max_frames >= 2, not {fps} and {max_frames}")
        self.store, self.grab, self.fps, self.max_frames, self.width = store, grab, fps, max_frames, width
        self._lock = threading.Lock()
        self._clip: Clip | None = None

    # -- recording ---------------------------------------------------------------------------------
    def start(self, trial_id: str, substep: Callable[[], int] = lambda: 0) -> None:
        """Record a new trial from now (a running one is stopped first)."""
        self.stop()
        clip = Clip(trial_id, 1.0 / self.fps)
        with self._lock:
            self._clip = clip
        threading.Thread(target=self._run, args=(clip, substep), name="trace-video", daemon=True).start()

    def stop(self) -> None:
        """Stop recording (returns at once: a grab under way ends in its own time, its frame dropped)."""
        with self._lock:
            if self._clip is not None:
                self._clip.stop.set()

    def mark_failure(self, what: str, t: float | None = None) -> None:
        """Note a failure of the running trial (e.g. a tool call) at ``t`` (default now)."""
        with self._lock:
            if self._clip is not None and not self._clip.stop.is_set():
                self._clip.failures.append((time.time() if t is None else t, what))

    def _run(self, clip: Clip, substep: Callable[[], int]) -> None:
        due = time.monotonic()
        while not clip.stop.is_set():
            if clip.stop.wait(max(0.0, due - time.monotonic())):
                return
            try:
                rgb = self.grab(GRAB_TIMEOUT_S)
            except Exception as exc:  # a grab failing must not end the trial's recording
                rgb = None
                if clip.misses == 0:
                    log.warning("trial %s video: a grab failed: %s", clip.trial_id, exc)
            taken = time.time()  # before the check: a frame kept was taken before the stop
            if rgb is None:
                clip.misses += 1
            elif not clip.stop.is_set():
                self._add(clip, taken, substep(), rgb)
            due += clip.interval
            while due < time.monotonic():  # overran (a slow grab): skip the missed slots
                due += clip.interval

    def _add(self, clip: Clip, t: float, substep: int, rgb: np.ndarray) -> None:
        try:
            path, _ = self.store.video_frame(clip.trial_id, t, substep, rgb, self.width)
        except Exception as exc:  # a full disk, a bad frame: the trial goes on without it
            log.warning("trial %s video: frame not written: %s", clip.trial_id, exc)
            return
        with self._lock:
            clip.frames.append((t, substep, path))
            if len(clip.frames) < self.max_frames:
                return
            dropped = [p for _, _, p in clip.frames[1::2]]
            clip.frames = clip.frames[::2]
            clip.interval *= 2
        self.store.delete_video_frames(clip.trial_id, dropped)
        log.info("trial %s video: thinned to %.2f fps", clip.trial_id, 1 / clip.interval)

    # -- reading the last trial back (the reflection) -------------------------------------------------
    def _of(self, trial_id: str) -> Clip | None:
        with self._lock:
            return self._clip if self._clip is not None and self._clip.trial_id == trial_id else None

    def timeline(self, trial_id: str) -> list[tuple[float, int]]:
        """(unix time, substep) of the trial's frames, oldest first ([] unless it is the last trial)."""
        clip = self._of(trial_id)
        with self._lock:
            return [(t, s) for t, s, _ in clip.frames] if clip else []

    def failures(self, trial_id: str) -> list[tuple[float, str]]:
        """(unix time, what failed) of the trial's marked failures, oldest first."""
        clip = self._of(trial_id)
        with self._lock:
            return list(clip.failures) if clip else []

    def keyframes(self, trial_id: str, count: int, at_failures: int = FAILURE_FRAMES) -> Images:
        """(label, RGB) of ``choose_keyframes`` (frames gone from the disk left out); [] for a trial other
        than the last one."""
        clip = self._of(trial_id)
        if clip is None:
            return []
        with self._lock:
            frames, failures = list(clip.frames), list(clip.failures)
        chosen = choose_keyframes([(t, s) for t, s, _ in frames], failures, count, at_failures)
        images = []
        for index, label in chosen:
            image = cv2.imread(str(self.store.root / frames[index][2]), cv2.IMREAD_COLOR)
            if image is not None:
                images.append((label, cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
        return images


def choose_keyframes(
    timeline: Sequence[tuple[float, int]],
    failures: Sequence[tuple[float, str]],
    count: int,
    at_failures: int = FAILURE_FRAMES,
) -> list[tuple[int, str]]:
    """(frame index, label) of the keyframes a reflection sees, by time: the first frame at or after each
    failure (at most ``at_failures``, spread over them), the rest evenly spaced from the first frame to
    the last. A label gives the time into the video, the substep, and what failed just before."""
    at_failures = max(0, min(at_failures, count))
    if not timeline or count <= 0:
        return []
    times = [t for t, _ in timeline]
    if len(failures) > at_failures:
        failures = [failures[round(i)] for i in np.linspace(0, len(failures) - 1, at_failures)]
    picked: dict[int, list[str]] = {}
    for t, what in failures:
        picked.setdefault(min(bisect_left(times, t), len(times) - 1), []).append(what)
    spare = [i for i in range(len(times)) if i not in picked]
    rest = min(count - len(picked), len(spare))
    if rest > 0:
        picked.update({spare[round(i)]: [] for i in np.linspace(0, len(spare) - 1, rest)})
    chosen = []
    for index in sorted(picked):
        substep = timeline[index][1]
        label = f"video {times[index] - times[0]:.1f} s, " + (f"substep {substep}" if substep else "planning")
        chosen.append((index, label + "".join(f", just after {what}" for what in picked[index])))
    return chosen
