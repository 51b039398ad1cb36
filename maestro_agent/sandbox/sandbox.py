"""The parent side of the sandbox: a child process that runs model-written code like a notebook.

The child (``maestro_agent.sandbox.worker``) starts with a filtered environment and talks JSON lines
over a socket pair; nothing from it is unpickled. The parent enforces the limits the child cannot:
it kills the child when it does not come back within ``grace_s`` of a timeout or cancel, and starts
a new one (the namespace is then lost, which the Execution says).
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
import tempfile
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from maestro_agent.sandbox.channel import MAX_IMAGES_PER_RUN, decode_png
from maestro_agent.sandbox.child import Child
from maestro_agent.sandbox.policy import ALLOWED_IMPORTS, Violation, check_code
from maestro_tools.common.errors import MaestroError

log = logging.getLogger(__name__)

Status = Literal["ok", "error", "violation", "timeout", "cancelled", "crashed"]
STDOUT_LIMIT = 20_000
MAX_EVENTS_PER_RUN = 10_000
RESTART_NOTE = (
    "The sandbox process was restarted: variables, imports and functions defined by earlier "
    "substeps are lost; define again whatever the next code needs."
)


class SandboxError(MaestroError):
    """The sandbox could not be started, set up or used (not an error of the submitted code)."""


@dataclass(frozen=True)
class SandboxLimits:
    wall_s: float = 180.0  # wall-clock time per run() call
    cpu_s: float = 60.0  # CPU seconds of the child process per run() call
    # RLIMIT_DATA of the child: private writable memory (heap, anonymous mmaps, thread stacks).
    # Not RLIMIT_AS: rclpy/DDS reserve address space they never use (a node: VmSize 738 MB, VmData 242 MB).
    memory_mb: int = 3072
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


class _Run:
    """What arrives from the child during one run() call."""

    def __init__(self, run_id: int) -> None:
        self.id = run_id
        self.stdout: list[str] = []
        self.stdout_size = 0
        self.events: list[dict] = []
        self.images: list[tuple[str, np.ndarray]] = []
        self.line: int | None = None
        self.cancel_at: float | None = None


class Sandbox:
    def __init__(
        self,
        setup: str | None = None,
        setup_kwargs: dict | None = None,
        limits: SandboxLimits = SandboxLimits(),  # frozen, so sharing the default is safe
        env: Mapping[str, str] | None = None,
        on_event: Callable[[dict], None] | None = None,
        trace_lines: bool = True,
    ) -> None:
        if setup is not None and (":" not in setup or not all(setup.partition(":")[::2])):
            raise ValueError(f"setup must look like 'package.module:function', got {setup!r}")
        try:
            json.dumps(setup_kwargs or {})
        except (TypeError, ValueError) as e:
            raise ValueError(f"setup_kwargs must be JSON-able: {e}") from None
        self.setup, self.setup_kwargs, self.limits = setup, dict(setup_kwargs or {}), limits
        self.env = dict(env or {})
        self.on_event, self.trace_lines = on_event, trace_lines
        self._child: Child | None = None
        self._run: _Run | None = None
        self._next_id = 0
        self._closed = False
        self._run_lock = threading.RLock()  # one run/reset/start at a time
        self._state = threading.Lock()  # _child, _run, cancel requests
        self._workdir = tempfile.mkdtemp(prefix="maestro-sandbox-")
        self._holder: list[Child | None] = [None]  # for the finalizer (no reference to self)
        self._finalizer = weakref.finalize(self, _cleanup, self._holder, self._workdir)

    # lifecycle
    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.pid if child is not None and child.alive() else None

    def start(self) -> None:
        """Spawn the child and run setup; SandboxError (with the child's traceback) if that fails."""
        with self._run_lock:
            if self._closed:
                raise SandboxError("the sandbox is closed; create a new Sandbox")
            if self._child is not None and self._child.alive():
                return
            self._spawn()

    def _spawn(self) -> None:
        old, self._child = self._child, None
        if old is not None:
            old.kill()
        try:
            child = Child(self.env, self._workdir, self._on_message)
        except OSError as e:
            raise SandboxError(f"could not start the sandbox process: {e}") from e
        self._holder[0] = child
        init = {
            "op": "init",
            "setup": self.setup,
            "setup_kwargs": self.setup_kwargs,
            "memory_mb": self.limits.memory_mb,
            "trace_lines": self.trace_lines,
            "allowed_imports": sorted(ALLOWED_IMPORTS),
        }
        child.send(init)
        msg = child.next_control(time.monotonic() + self.limits.start_s)
        if msg is None or msg.get("msg") != "ready":
            if msg is not None and msg.get("msg") == "setup_error":
                detail = f"setup {self.setup} raised:\n{str(msg.get('error', ''))[-8000:]}"
            else:
                why = "did not answer in time" if msg is None and child.alive() else "exited"
                detail = f"the sandbox process {why} during start-up{child.describe_exit()}"
            child.kill()
            raise SandboxError(f"could not start the sandbox: {detail}")
        with self._state:
            self._child = child

    def close(self) -> None:
        """Stop the child (idempotent)."""
        with self._state:
            self._closed, child, self._child = True, self._child, None
        if child is not None:
            child.close(timeout=max(1.0, self.limits.grace_s))
        self._finalizer()

    def reset(self) -> None:
        """A fresh namespace (a new trial) in the same child, with setup's names injected again."""
        with self._run_lock:
            child = self._child
            if child is None or not child.alive():
                self.start() if child is None else self._spawn()
                return
            child.send({"op": "reset"})
            msg = child.next_control(time.monotonic() + 10.0)
            if msg is None or msg.get("msg") != "reset_done":
                self._spawn()

    def cancel(self) -> None:
        """Interrupt the running code (thread-safe); killed and restarted if not done within grace_s."""
        with self._state:
            run, child = self._run, self._child
            if run is None or child is None or run.cancel_at is not None:
                return
            run.cancel_at = time.monotonic()
        child.send({"op": "cancel", "id": run.id})

    # running code
    def run(self, code: str) -> Execution:
        """Check and run ``code`` in the persistent namespace; never raises for what the code does."""
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, got {type(code).__name__}")
        with self._run_lock:
            if self._closed:
                raise SandboxError("the sandbox is closed; create a new Sandbox")
            t0 = time.monotonic()
            violations = check_code(code)
            if violations:
                return self._refused(violations)
            child = self._child
            if child is None:
                self.start()
                t0 = time.monotonic()
            elif not child.alive():  # died between runs (OOM killer, external kill)
                text = f"the sandbox process died while idle{child.describe_exit()}; the code was not run."
                return self._after_kill(_Run(-1), "crashed", text, t0)
            return self._execute(code, t0)

    def _execute(self, code: str, t0: float) -> Execution:
        child = self._child
        assert child is not None
        self._next_id += 1
        run = _Run(self._next_id)
        with self._state:
            self._run = run
        try:
            lim = self.limits
            child.send({"op": "run", "id": run.id, "code": code, "wall_s": lim.wall_s, "cpu_s": lim.cpu_s})
            deadline, cpu0, next_cpu_check = t0 + lim.wall_s + lim.grace_s, child.cpu_time(), t0
            while True:
                msg = child.next_control(time.monotonic() + 0.05)
                if msg is not None and msg.get("msg") == "result" and msg.get("id") == run.id:
                    return self._finish(run, msg, t0)
                now = time.monotonic()
                if msg is not None and msg.get("msg") == "eof":  # after everything the child sent
                    text = f"the sandbox process died while running the code{child.describe_exit()}"
                    return self._after_kill(run, "crashed", text, t0)
                if run.cancel_at is not None and now > run.cancel_at + lim.grace_s:
                    text = f"SandboxCancelled: the code did not stop within {lim.grace_s:g} s of the cancel"
                    return self._after_kill(run, "cancelled", text, t0)
                if now > deadline:
                    text = f"SandboxTimeout: the run exceeded its wall-clock limit of {lim.wall_s:g} s"
                    return self._after_kill(run, "timeout", text + " and did not stop", t0)
                if now >= next_cpu_check:
                    next_cpu_check = now + 0.2
                    if child.cpu_time() - cpu0 > lim.cpu_s + lim.grace_s:
                        text = f"SandboxTimeout: the run exceeded its CPU time limit of {lim.cpu_s:g} s"
                        return self._after_kill(run, "timeout", text + " and did not stop", t0)
        finally:
            with self._state:
                self._run = None

    def _on_message(self, child: Child, msg: dict) -> bool:
        """Handle a streamed message from the child's reader thread; False: a control message."""
        kind = msg.get("msg")
        if kind not in ("event", "line", "image", "stdout"):
            return False
        run = self._run if child is self._child else None
        note: dict[str, Any]
        if kind == "event":
            data = msg.get("data")
            if not isinstance(data, dict):
                return True
            note = data
            if run is not None and len(run.events) < MAX_EVENTS_PER_RUN:
                run.events.append(data)
        elif kind == "line":
            note = {"kind": "line", "line": msg.get("line"), "t": msg.get("t")}
            if run is not None and isinstance(msg.get("line"), int):
                run.line = msg["line"]
        elif kind == "stdout":
            text = str(msg.get("text", ""))
            note = {"kind": "stdout", "text": text, "t": msg.get("t")}
            if run is not None and run.stdout_size < STDOUT_LIMIT:
                run.stdout.append(text[: STDOUT_LIMIT - run.stdout_size])
                run.stdout_size += len(run.stdout[-1])
        else:
            try:
                rgb = decode_png(str(msg.get("png", "")).encode("ascii"))
            except (ValueError, UnicodeError, zlib.error, struct.error) as e:
                log.warning("sandbox: dropped a malformed image: %s", e)
                return True
            label = str(msg.get("label", ""))[:200]
            note = {"kind": "image", "label": label, "shape": list(rgb.shape), "t": msg.get("t")}
            if run is not None and len(run.images) < MAX_IMAGES_PER_RUN:
                run.images.append((label, rgb))
        if self.on_event is not None:
            try:
                self.on_event(note)
            except Exception:
                log.exception("sandbox: on_event callback failed")
        return True

    def _finish(self, run: _Run, msg: dict, t0: float) -> Execution:
        status = msg.get("status")
        if status not in ("ok", "error", "timeout", "cancelled"):
            status = "error"
        error = str(msg.get("error", ""))[:STDOUT_LIMIT]
        line = msg.get("error_line")
        restarted = bool(msg.get("memory_high"))
        if restarted:  # the variables hold the memory: start over rather than fail every next run
            error += f"\nThe process was still near its memory limit ({self.limits.memory_mb} MB). "
            error += self._restart_text()
        return self._execution(
            run,
            status,
            t0,
            error=error,
            error_type=str(msg.get("error_type", ""))[:200],
            error_line=line if isinstance(line, int) and not isinstance(line, bool) else None,
            restarted=restarted,
            dropped=int(msg.get("stdout_dropped") or 0),
        )

    def _after_kill(self, run: _Run, status: Status, text: str, t0: float) -> Execution:
        if self._child is not None:
            self._child.kill()
        if self._closed:
            return self._execution(run, status, t0, error=text, error_line=run.line, restarted=False)
        error_type = text.partition(":")[0] if text.startswith("Sandbox") else ""
        text += "\n" + self._restart_text()
        return self._execution(
            run, status, t0, error=text, error_type=error_type, error_line=run.line, restarted=True
        )

    def _restart_text(self) -> str:
        try:
            self._spawn()
        except SandboxError as e:
            return f"Starting a new sandbox process failed ({e}); the next run will try again."
        return RESTART_NOTE

    def _execution(self, run: _Run, status: Status, t0: float, dropped: int = 0, **fields: Any) -> Execution:
        stdout = "".join(run.stdout)
        if dropped or run.stdout_size >= STDOUT_LIMIT:
            stdout += "\n[output truncated: only the first 20000 characters are shown]"
        fields.setdefault("error_type", "")
        return Execution(
            status=status,
            stdout=stdout,
            images=tuple(run.images),
            events=tuple(run.events),
            duration_s=round(time.monotonic() - t0, 4),
            violations=(),
            **fields,
        )

    @staticmethod
    def _refused(violations: list[Violation]) -> Execution:
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


def _cleanup(holder: list[Child | None], workdir: str) -> None:
    if holder[0] is not None:
        holder[0].kill()
    shutil.rmtree(workdir, ignore_errors=True)
