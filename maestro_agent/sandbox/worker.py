"""The sandbox child: ``python -m maestro_agent.sandbox.worker --fd N``.

Talks frames (``wire``) with the parent over the socket ``N`` (never its stdout). The first frame is
the init message: the tools' spec, from which it builds the stubs the code calls. It then confines
itself (rlimits, an unprivileged uid, no_new_privs, seccomp), reports ``ready`` with what it sees
of its isolation, and serves ``run``/``cancel``/``reset``/``close``; tool calls go to the parent and
their replies come back. Submitted code runs in the main thread, so signals (SIGUSR1 cancel, SIGALRM
wall time, SIGPROF CPU time) raise ``SandboxCancelled``/``SandboxTimeout`` inside it.
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import importlib
import io
import linecache
import os
import queue
import signal
import sys
import threading
import time
import traceback
import types
from collections import OrderedDict
from typing import Any

from maestro_agent.sandbox import guards, stubs, wire
from maestro_agent.sandbox.channel import SandboxCancelled, SandboxTimeout
from maestro_agent.sandbox.confine import confine
from maestro_agent.sandbox.link import MAESTRO_ERRORS, Link
from maestro_agent.sandbox.policy import ALLOWED_IMPORTS

USER_FILENAME_PREFIX = "<substep"

STDOUT_LIMIT = 20_000
RESERVE_BYTES = 16 * 2**20  # freed on MemoryError so the result can still be built and sent
LINE_EVENT_MIN_S = 0.005  # at most ~200 line events per second
_SIGNAL_STATUS = {signal.SIGUSR1: "cancelled", signal.SIGALRM: "timeout", signal.SIGPROF: "timeout"}


class _Capture(io.TextIOBase):
    """sys.stdout/sys.stderr during a run: streams the first half of STDOUT_LIMIT characters to the
    parent, a line (or 1000 characters) at a time, and keeps the last half, sent when the run ends with
    how much was cut between them: the first results and the last both reach the model."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.buffer = ""
        self.size = 0
        self.dropped = 0
        self.tail = ""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        kept = s[: max(STDOUT_LIMIT // 2 - self.size, 0)]
        self.size += len(kept)
        if len(kept) < len(s):
            overflow = self.tail + s[len(kept) :]
            self.dropped += max(len(overflow) - STDOUT_LIMIT // 2, 0)
            self.tail = overflow[-(STDOUT_LIMIT // 2) :]
        self.buffer += kept
        if "\n" in kept or len(self.buffer) >= 1000:
            self.flush()
        return len(s)

    def flush(self) -> None:
        if self.buffer:
            text, self.buffer = self.buffer, ""
            self.link.send({"msg": "stdout", "text": text, "t": self.link.elapsed()})

    def finish(self) -> None:
        """At the end of the run: what is left of the head, then the tail after a note of the cut."""
        self.flush()
        if self.tail:
            cut = f"\n[... {self.dropped} characters cut ...]\n" if self.dropped else ""
            self.link.send({"msg": "stdout", "text": cut + self.tail, "t": self.link.elapsed()})
            self.tail = ""


class Worker:
    def __init__(self, link: Link, init: dict[str, Any], injected: dict[str, Any]) -> None:
        self.link = link
        self.injected = injected
        self.trace_lines = bool(init.get("trace_lines", True))
        self.memory_bytes = int(init.get("memory_mb", 0)) * 2**20
        self.allowed = frozenset(init.get("allowed_imports") or ALLOWED_IMPORTS)
        self.builtins = guards.make_builtins(guards.make_import(self.allowed))
        self.namespace = self.fresh_namespace()
        self.sources: OrderedDict[str, list[str]] = OrderedDict()
        self.commands: queue.Queue[dict[str, Any]] = queue.Queue()
        self.lock = threading.Lock()
        self.current: int | None = None  # id of the run in progress
        self.done = 0  # highest finished run id
        self.cancelled: set[int] = set()  # cancels that arrived before their run started
        self.cancel_requested = False
        self.wall_deadline = self.cpu_limit = self.cpu0 = 0.0
        self.limits = (0.0, 0.0)
        self.emitted_line: int | None = None
        self.last_line_emit = 0.0

    def fresh_namespace(self) -> dict[str, Any]:
        return {"__builtins__": self.builtins, "__name__": guards.USER_MODULE, **self.injected}

    # threads: commands from the parent, and a watchdog
    def read_commands(self) -> None:
        while True:
            try:
                frame = self.link.read_frame()
            except (OSError, wire.WireError):
                frame = None
            if frame is None:
                break
            cmd, region = frame
            op = cmd.get("op")
            if op == "reply":
                self.link.replies.put((cmd, region))
            elif op == "cancel":
                self.cancel(cmd.get("id"))
            else:
                self.commands.put(cmd)
        # The parent went away (closed or killed): stop the code, leave once idle or after 5 s.
        self.commands.put({"op": "close"})
        with self.lock:
            if self.current is not None and self.link.armed:
                signal.pthread_kill(self.link.main, signal.SIGUSR1)
        exit_timer = threading.Timer(5.0, os._exit, (0,))
        exit_timer.daemon = True
        exit_timer.start()

    def cancel(self, rid: Any) -> None:
        with self.lock:
            if rid == self.current:
                self.cancel_requested = True
                if self.link.armed:
                    signal.pthread_kill(self.link.main, signal.SIGUSR1)
            elif isinstance(rid, int) and rid > self.done:
                self.cancelled.add(rid)

    def watchdog(self) -> None:
        """Backs up the interval timers with thread-directed signals and sends line events the
        tracer held back (a line entered right after another one, then running long)."""
        while True:
            time.sleep(0.02)
            link = self.link
            if not link.armed or link.fired is not None:
                continue
            now = time.monotonic()
            if now > self.wall_deadline + 0.05:
                signal.pthread_kill(link.main, signal.SIGALRM)
            elif time.process_time() - self.cpu0 > self.cpu_limit + 0.05:
                signal.pthread_kill(link.main, signal.SIGPROF)
            elif self.trace_lines and link.line != self.emitted_line and now >= self.last_line_emit + 0.005:
                self.last_line_emit = now
                self.emit_line(link.line)

    # signals and tracing
    def on_signal(self, signum: int, frame: types.FrameType | None) -> None:
        link = self.link
        if not link.armed or link.fired is not None:
            return
        wall_s, cpu_s = self.limits
        link.fired = _SIGNAL_STATUS[signum]
        exc: BaseException
        if signum == signal.SIGUSR1:
            exc = SandboxCancelled("the run was cancelled")
        elif signum == signal.SIGALRM:
            exc = SandboxTimeout(f"the run exceeded its wall-clock limit of {wall_s:g} s")
        else:
            exc = SandboxTimeout(f"the run exceeded its CPU time limit of {cpu_s:g} s")
        if link.depth:  # in the middle of a write to the parent: raise when it is done
            link.pending = exc
            return
        raise exc

    def make_tracer(self) -> Any:
        """sys.settrace function: line events of the current submission's frames only."""
        link, namespace, filename, monotonic = self.link, self.namespace, self.link.filename, time.monotonic

        def trace_local(frame: types.FrameType, event: str, arg: Any) -> Any:
            if event == "line" and frame.f_lineno != link.line:
                line = link.line = frame.f_lineno
                now = monotonic()
                if now - self.last_line_emit >= LINE_EVENT_MIN_S:
                    self.last_line_emit = now
                    self.emit_line(line)
            return trace_local

        def trace_global(frame: types.FrameType, event: str, arg: Any) -> Any:
            if frame.f_globals is not namespace:  # cheap test first: f_code is an audited read
                return None
            return trace_local if frame.f_code.co_filename == filename else None

        return trace_global

    def emit_line(self, line: int | None) -> None:
        if line is not None:
            self.emitted_line = line
            self.link.send({"msg": "line", "line": line, "t": self.link.elapsed()})

    # runs
    def serve(self) -> None:
        while True:
            cmd = self.commands.get()
            op = cmd.get("op")
            if op == "run":
                self.link.send(self.run(cmd))
            elif op == "reset":
                self.namespace = self.fresh_namespace()
                for name in self.sources:
                    linecache.cache.pop(name, None)
                self.sources.clear()
                gc.collect()  # free the old trial's memory now (functions keep their namespace in a cycle)
                self.link.send({"msg": "reset_done"})
            elif op == "close":
                return

    def run(self, cmd: dict[str, Any]) -> dict[str, Any]:
        rid = int(cmd["id"])
        with self.lock:
            skip = rid in self.cancelled
            self.cancelled.discard(rid)
            self.current, self.cancel_requested = rid, False
        link = self.link
        filename = f"{USER_FILENAME_PREFIX}-{rid}>"
        self.sources[filename] = str(cmd["code"]).splitlines()
        lines = [f"{x}\n" for x in self.sources[filename]]
        linecache.cache[filename] = (0, None, lines, filename)  # so warnings can quote the line
        while len(self.sources) > 200:
            linecache.cache.pop(self.sources.popitem(last=False)[0], None)
        self.limits = (float(cmd["wall_s"]), float(cmd["cpu_s"]))
        link.filename, link.line, link.fired, link.pending, link.run_id = filename, None, None, None, rid
        self.emitted_line = None
        capture = _Capture(link)
        saved = sys.stdout, sys.stderr
        try:
            reserve = bytearray(RESERVE_BYTES)
        except MemoryError:
            reserve = bytearray()
        error: BaseException | None = None
        link.t0 = time.monotonic()
        try:
            if skip:
                link.fired = "cancelled"
                raise SandboxCancelled("the run was cancelled before it started")
            code = compile(str(cmd["code"]), filename, "exec", dont_inherit=True)
            sys.stdout = sys.stderr = capture
            self.arm()
            exec(code, self.namespace)
            link.armed = False  # no call between exec and here: a late signal lands in the except
        except BaseException as e:
            link.armed = False  # first statement, so a signal cannot raise past this handler
            error = e
        finally:
            self.disarm()
            sys.stdout, sys.stderr = saved
            link.pending = None
            capture.finish()
        if isinstance(error, MemoryError):
            del reserve
        with self.lock:
            self.current, self.done = None, rid
        result: dict[str, Any] = {"msg": "result", "id": rid, "stdout_dropped": capture.dropped}
        status = link.fired or ("ok" if error is None else "error")
        result.update(status=status, error="", error_type="", error_line=None)
        if error is not None:
            result.update(self.describe(error, filename))
        elif link.fired:
            result.update(error=f"the run was stopped ({status}) but the code finished anyway")
        result["memory_high"] = isinstance(error, MemoryError) and self.memory_high()
        return result

    def arm(self) -> None:
        wall_s, cpu_s = self.limits
        if self.trace_lines:
            sys.settrace(self.make_tracer())
        self.wall_deadline = time.monotonic() + wall_s
        self.cpu0, self.cpu_limit = time.process_time(), cpu_s
        self.link.armed = True
        signal.setitimer(signal.ITIMER_REAL, wall_s)
        signal.setitimer(signal.ITIMER_PROF, cpu_s)
        if self.cancel_requested:  # a cancel that raced with the start of the run
            self.link.fired = "cancelled"
            raise SandboxCancelled("the run was cancelled")

    def disarm(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_PROF, 0)
        sys.settrace(None)

    def describe(self, error: BaseException, filename: str) -> dict[str, Any]:
        """The error text with the submitted code's lines (frames of the proxy are left out)."""
        frames: list[tuple[str, int]] = []
        tb = error.__traceback__
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if name in self.sources:
                frames.append((name, tb.tb_lineno))
            tb = tb.tb_next
        try:
            message = str(error)
        except Exception:
            message = "<the error message could not be rendered>"
        kind = type(error).__name__
        text = f"{kind}: {message}" if message else kind
        if frames:
            text += f" ({self.where(*frames[-1], filename)})"
        if len(frames) > 1:
            text += "\nTraceback of the submitted code (most recent call last):"
            text += "".join(f"\n  {self.where(name, line, filename)}" for name, line in frames)
        own = [line for name, line in frames if name == filename]
        return {"error": text, "error_type": kind, "error_line": own[-1] if own else None}

    def where(self, name: str, line: int, current: str) -> str:
        lines = self.sources.get(name, [])
        src = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        run_id = name[len(USER_FILENAME_PREFIX) + 1 : -1]
        label = f"line {line}" if name == current else f"line {line} of an earlier substep (run {run_id})"
        return f"{label}: `{src}`" if src else label

    def memory_high(self) -> bool:
        """After a MemoryError: is the process still near its limit (memory held by variables)?"""
        try:
            with open("/proc/self/status") as f:
                size_kb = next(int(x.split()[1]) for x in f if x.startswith("VmSize:"))
        except (OSError, StopIteration, ValueError):
            return True
        return not self.memory_bytes or size_kb * 1024 > 0.7 * self.memory_bytes


def _import_types(names: dict[str, str]) -> dict[str, type]:
    """The dataclasses values may be (``{name: "module:qualname"}``), imported before confinement."""
    types = {}
    for name, where in names.items():
        module, _, qualname = where.partition(":")
        try:
            types[name] = getattr(importlib.import_module(module), qualname)
        except (ImportError, AttributeError) as exc:  # the worker has no ROS: say which type and why
            raise ImportError(
                f"the value type {name} ({where}) cannot be loaded in the sandbox worker: "
                f"{type(exc).__name__}: {exc}. Value types must be plain dataclasses in a module "
                "importing neither ROS (rclpy, messages) nor the tools (see maestro_agent/proxy/types.py)"
            ) from exc
    return types


def _setup(link: Link, init: dict[str, Any], region: memoryview) -> tuple[dict[str, Any], dict[str, Any]]:
    allowed = frozenset(init.get("allowed_imports") or ALLOWED_IMPORTS)
    guards.preload(allowed)
    link.types = _import_types(dict(init.get("types") or {}))
    link.encoder = wire.Encoder(link.types)
    constants = wire.decode(init.get("constants") or {}, region, link.types)
    injected = {**stubs.build(link, dict(init.get("tools") or {}), constants), **stubs.task_functions(link)}
    injected.update(MAESTRO_ERRORS)  # the tools' error classes, to catch by name
    for name in sorted(allowed):  # pre-imported: `math.pi` without an import works
        if name in sys.modules:
            injected[name] = guards.view(sys.modules[name], allowed)
    if "numpy" in injected:
        injected["np"] = injected["numpy"]
    report = confine(dict(init.get("confine") or {}), int(init.get("memory_mb", 0)))
    return injected, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="socket to the parent")
    args = parser.parse_args(argv)
    link = Link(args.fd, {})
    first = link.read_frame()
    if first is None:
        return 1
    init, region = first
    faulthandler.enable()
    try:
        injected, report = _setup(link, init, region)
    except BaseException:
        link.send({"msg": "setup_error", "error": traceback.format_exc()})
        return 1
    worker = Worker(link, init, injected)
    for signum in _SIGNAL_STATUS:
        signal.signal(signum, worker.on_signal)
    guards.install_audit_hook()
    threading.Thread(target=worker.read_commands, daemon=True, name="sandbox-commands").start()
    threading.Thread(target=worker.watchdog, daemon=True, name="sandbox-watchdog").start()
    link.send({"msg": "ready", "pid": os.getpid(), "report": report})
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main())
