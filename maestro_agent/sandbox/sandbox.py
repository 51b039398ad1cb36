"""The parent side of the sandbox: a child process that runs model-written code like a notebook.

The child (``maestro_agent.sandbox.worker``) holds no ROS node, no network and no secrets: it runs
under OS isolation (``isolation``) with stubs of the tools, and each tool call comes over the
channel to this side, which checks it and runs it on the real tools (``host.ToolHost``) in the
calling thread. Nothing from the child is unpickled; every frame is checked. The parent enforces the
limits the child cannot: it kills the child when it does not come back within ``grace_s`` of a
timeout or cancel, and starts a new one (the namespace is then lost, which the Execution says).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from maestro_agent.sandbox import isolation
from maestro_agent.sandbox.channel import CallContext
from maestro_agent.sandbox.child import Child, Message
from maestro_agent.sandbox.host import ToolHost
from maestro_agent.sandbox.policy import ALLOWED_IMPORTS, check_code
from maestro_agent.sandbox.runs import (
    MAX_CALLS_PER_RUN,
    STDOUT_LIMIT,
    Execution,
    Run,
    SandboxLimits,
    Status,
    refused,
)
from maestro_tools.common.errors import MaestroError

log = logging.getLogger(__name__)

RESTART_NOTE = (
    "The sandbox process was restarted: variables, imports and functions defined by earlier "
    "substeps are lost; define again whatever the next code needs."
)


class SandboxError(MaestroError):
    """The sandbox could not be started, set up or used (not an error of the submitted code)."""


class Sandbox:
    def __init__(
        self,
        tools: ToolHost | None = None,
        limits: SandboxLimits | None = None,
        env: Mapping[str, str] | None = None,
        on_event: Callable[[dict], None] | None = None,
        trace_lines: bool = True,
        isolate: bool = True,
    ) -> None:
        """``isolate=False`` runs the child without OS isolation (only the in-process checks): an
        explicit, unsafe opt-in for hosts that cannot isolate."""
        self.tools = tools or ToolHost({})
        self.limits = limits or SandboxLimits()
        self.env = dict(env or {})
        self.on_event, self.trace_lines, self.isolate = on_event, trace_lines, isolate
        self.isolation_report: dict[str, Any] = {}
        self._plan: isolation.Plan | None = None
        self._child: Child | None = None
        self._run: Run | None = None
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
        """Spawn the child; SandboxError (its traceback, or what isolation lacks) if that fails."""
        with self._run_lock:
            if self._closed:
                raise SandboxError("the sandbox is closed; create a new Sandbox")
            if self._child is not None and self._child.alive():
                return
            self._spawn()

    def _isolation(self) -> isolation.Plan:
        if self._plan is None:
            if not self.isolate:
                log.warning("sandbox: running model code WITHOUT OS isolation (explicit opt-in)")
                self._plan = isolation.UNISOLATED
            else:
                extra = [p for p in self.env.get("PYTHONPATH", "").split(":") if p]
                try:
                    self._plan = isolation.plan(extra)
                except isolation.IsolationUnavailableError as e:
                    raise SandboxError(f"refusing to run model code: {e}") from None
        return self._plan

    def _spawn(self) -> None:
        old, self._child = self._child, None
        if old is not None:
            old.kill()
        plan = self._isolation()
        try:
            child = Child(plan, self.env, self._workdir, self._on_message)
        except OSError as e:
            raise SandboxError(f"could not start the sandbox process: {e}") from e
        self._holder[0] = child
        spec, constants, blobs = self.tools.spec()
        init = {
            "op": "init",
            "tools": spec,
            "constants": constants,
            "types": self.tools.type_names(),
            "memory_mb": self.limits.memory_mb,
            "trace_lines": self.trace_lines,
            "allowed_imports": sorted(ALLOWED_IMPORTS),
            "confine": plan.confinement(),
        }
        child.send(init, blobs)
        msg = child.next_control(time.monotonic() + self.limits.start_s)
        header = msg[0] if msg is not None else None
        if header is None or header.get("msg") != "ready":
            if header is not None and header.get("msg") == "setup_error":
                detail = f"its set-up raised:\n{str(header.get('error', ''))[-8000:]}"
            else:
                why = "did not answer in time" if header is None and child.alive() else "exited"
                detail = f"the sandbox process {why} during start-up{child.describe_exit()}"
            child.kill()
            raise SandboxError(f"could not start the sandbox: {detail}")
        report = header.get("report")
        problems = isolation.check_report(report, plan.tmp_entries) if plan.isolated else []
        if problems:
            child.kill()
            raise SandboxError(f"the sandbox process is not isolated as required: {'; '.join(problems)}")
        self.isolation_report = dict(report) if isinstance(report, dict) else {}
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
        """A fresh namespace (a new trial) in the same child, with the tools' stubs injected again, and
        the tools' own per-trial state (what the gripper was judged to hold) forgotten."""
        self.tools.new_trial()
        with self._run_lock:
            child = self._child
            if child is None or not child.alive():
                self.start() if child is None else self._spawn()
                return
            child.send({"op": "reset"})
            msg = child.next_control(time.monotonic() + 10.0)
            if msg is None or msg[0].get("msg") != "reset_done":
                self._spawn()

    def cancel(self) -> None:
        """Interrupt the running code (thread-safe); killed and restarted if not done within grace_s."""
        with self._state:
            run, child = self._run, self._child
            if run is None or child is None or run.cancel_at is not None:
                return
            run.cancel_at = time.monotonic()
            run.cancelled.set()
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
                return refused(violations)
            child = self._child
            if child is None:
                self.start()
                t0 = time.monotonic()
            elif not child.alive():  # died between runs (OOM killer, external kill)
                text = f"the sandbox process died while idle{child.describe_exit()}; the code was not run."
                return self._after_kill(Run(-1), "crashed", text, t0)
            return self._execute(code, t0)

    def _execute(self, code: str, t0: float) -> Execution:
        child = self._child
        assert child is not None
        self._next_id += 1
        run = Run(self._next_id, self._notify)
        with self._state:
            self._run = run
        try:
            lim = self.limits
            child.send({"op": "run", "id": run.id, "code": code, "wall_s": lim.wall_s, "cpu_s": lim.cpu_s})
            deadline, cpu0, next_cpu_check = t0 + lim.wall_s + lim.grace_s, child.cpu_time(), t0
            while True:
                msg = child.next_control(time.monotonic() + 0.05)
                header = msg[0] if msg is not None else {}
                kind = header.get("msg")
                if kind == "result" and header.get("id") == run.id:
                    return self._finish(run, header, t0)
                if kind == "call" and msg is not None:
                    if not self._serve(child, run, msg, t0 + lim.wall_s):
                        text = f"the code made more than {MAX_CALLS_PER_RUN} tool calls in one run"
                        return self._after_kill(run, "error", text, t0)
                    continue
                now = time.monotonic()
                if kind == "eof":  # after everything the child sent
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

    def _serve(self, child: Child, run: Run, msg: Message, deadline: float) -> bool:
        """Answer one tool call of the child in this thread; False when the run's call budget is spent."""
        header, region = msg
        run.calls += 1
        if run.calls > MAX_CALLS_PER_RUN:
            return False
        call_id = header.get("id") if type(header.get("id")) is int else -1
        if header.get("run") != run.id:
            reply: dict[str, Any] = {
                "ok": False,
                "error_type": "RuntimeError",
                "message": "no run in progress",
            }
            blobs: list[bytes] = []
        else:
            line = header.get("line")
            context = CallContext(
                line=line if type(line) is int else None,
                deadline=deadline,
                on_event=run.record,
                on_image=run.record_image,
                t0=run.t0,
                cancelled=run.cancelled,
            )
            reply, blobs = self.tools.dispatch(header, region, context)
        if not child.send({"op": "reply", "id": call_id, **reply}, blobs):
            failed = {
                "ok": False,
                "error_type": "RuntimeError",
                "message": "the tool's answer could not be sent",
            }
            child.send({"op": "reply", "id": call_id, **failed})
        return True

    def _notify(self, note: dict) -> None:
        if self.on_event is not None:
            try:
                self.on_event(note)
            except Exception:
                log.exception("sandbox: on_event callback failed")

    def _on_message(self, child: Child, msg: dict) -> bool:
        """A streamed message from the child's reader thread; False: a control message."""
        if msg.get("msg") not in ("event", "line", "stdout"):
            return False
        run = self._run if child is self._child else None
        if run is not None:
            run.child_message(msg)
        return True

    def _finish(self, run: Run, msg: dict, t0: float) -> Execution:
        status = msg.get("status")
        if status not in ("ok", "error", "timeout", "cancelled"):
            status = "error"
        error = str(msg.get("error", ""))[:STDOUT_LIMIT]
        line = msg.get("error_line")
        restarted = bool(msg.get("memory_high"))
        if restarted:  # the variables hold the memory: start over rather than fail every next run
            error += f"\nThe process was still near its memory limit ({self.limits.memory_mb} MB). "
            error += self._restart_text()
        return run.execution(
            status,
            t0,
            error=error,
            error_type=str(msg.get("error_type", ""))[:200],
            error_line=line if isinstance(line, int) and not isinstance(line, bool) else None,
            restarted=restarted,
        )

    def _after_kill(self, run: Run, status: Status, text: str, t0: float) -> Execution:
        if self._child is not None:
            self._child.kill()
        if self._closed:
            return run.execution(status, t0, error=text, error_line=run.line, restarted=False)
        error_type = text.partition(":")[0] if text.startswith("Sandbox") else ""
        text += "\n" + self._restart_text()
        return run.execution(
            status, t0, error=text, error_type=error_type, error_line=run.line, restarted=True
        )

    def _restart_text(self) -> str:
        try:
            self._spawn()
        except SandboxError as e:
            return f"Starting a new sandbox process failed ({e}); the next run will try again."
        return RESTART_NOTE


def _cleanup(holder: list[Child | None], workdir: str) -> None:
    if holder[0] is not None:
        holder[0].kill()
    shutil.rmtree(workdir, ignore_errors=True)
