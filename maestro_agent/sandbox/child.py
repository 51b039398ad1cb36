"""One sandbox child process seen from the parent: how it starts, its socket, its frames, its output.

The child gets only an allowlist of environment variables (plus the caller's), never one whose name
contains KEY, TOKEN, SECRET, PASSWORD or CREDENTIAL, and starts under the isolation plan's prefix
(bubblewrap). It runs ``sys.executable -I`` (isolated: no user site, no PYTHON* variables, no working
directory on sys.path); when PYTHONPATH is passed on purpose (test fixtures, a colcon install) it runs
``-s -P`` instead so PYTHONPATH still counts. It leads its own process group; its stdout/stderr (C
libraries, faulthandler) are drained into a short tail kept for crash reports.

Everything it sends is read defensively: frames over the size limit, malformed frames or more
queued control messages than a well-behaved child can produce end the child. Every send to it has
a deadline, so a child that stops reading cannot block the agent.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import psutil

from maestro_agent.sandbox import wire
from maestro_agent.sandbox.isolation import Plan

log = logging.getLogger(__name__)

ENV_ALLOWLIST = frozenset(
    {"PATH", "LANG", "LC_ALL", "PYTHONPATH", "LD_LIBRARY_PATH", "PYTHONUNBUFFERED", "VIRTUAL_ENV"}
)
FIXED_ENV = {
    "HOME": "/tmp",
    "OPENBLAS_NUM_THREADS": "1",  # one thread: less memory reserved, fewer threads to filter
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "_ROS_WHEELS_BOOTSTRAP_COMPLETE": "1",  # the ROS wheels' .pth would otherwise re-exec the child
}
SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")
SEND_TIMEOUT_S = 5.0
MAX_QUEUED = 64  # control messages (results, calls) waiting for the parent; a child sends one at a time
Message = tuple[dict[str, Any], memoryview]
_HINTS = {
    signal.SIGKILL: "killed by SIGKILL: out of memory (OOM killer) or killed from outside",
    signal.SIGSEGV: "crashed in native code (SIGSEGV)",
    signal.SIGBUS: "crashed in native code (SIGBUS)",
    signal.SIGABRT: "aborted in native code (SIGABRT)",
    signal.SIGXCPU: "ran out of CPU time (SIGXCPU)",
    signal.SIGSYS: "made a forbidden system call (SIGSYS, seccomp)",
}


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: allowlisted variables of this process plus ``extra``, minus secrets."""
    env = {k: v for k, v in os.environ.items() if k in ENV_ALLOWLIST}
    env.update(FIXED_ENV)
    for key, value in (extra or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"sandbox env entries must be str -> str, got {key!r}: {type(value).__name__}")
        env[key] = value
    return {k: v for k, v in env.items() if not any(m in k.upper() for m in SECRET_MARKERS)}


def child_command(env: Mapping[str, str]) -> list[str]:
    # without -P (3.10) the empty working directory is what lands on sys.path
    flags = ["-I"] if "PYTHONPATH" not in env else ["-s", "-P"] if sys.version_info >= (3, 11) else ["-s"]
    return [sys.executable, *flags, "-m", "maestro_agent.sandbox.worker"]


class Child:
    def __init__(
        self,
        plan: Plan,
        extra_env: Mapping[str, str],
        cwd: str,
        on_message: Callable[[Child, dict[str, Any]], bool],
    ) -> None:
        env = child_env(extra_env)
        ours, theirs = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                [*plan.prefix, *child_command(env), "--fd", str(theirs.fileno())],
                env=env,
                cwd=cwd,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.settimeout(SEND_TIMEOUT_S)
        self.wrapped = bool(plan.prefix)  # bubblewrap reports a killed worker as exit code 128 + signal
        self.sock = ours
        self.pid = self.proc.pid
        self.on_message = on_message
        self.control: queue.Queue[Message] = queue.Queue(maxsize=MAX_QUEUED)
        self.output: collections.deque[bytes] = collections.deque(maxlen=100)
        self.send_lock = threading.Lock()
        self.broken = ""  # why the parent stopped trusting the child
        threading.Thread(target=self._read, daemon=True, name=f"sandbox-read-{self.pid}").start()
        threading.Thread(target=self._drain, daemon=True, name=f"sandbox-out-{self.pid}").start()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, header: dict[str, Any], blobs: list[bytes] | None = None) -> bool:
        """Send a frame within SEND_TIMEOUT_S; False (and the child is killed) when it cannot be."""
        try:
            data = wire.pack(header, blobs)
            with self.send_lock:
                self.sock.sendall(data)
        except TimeoutError:
            self._give_up(f"it did not read a message within {SEND_TIMEOUT_S:g} s")
            return False
        except OSError:  # a dead child is reported by the reader
            return False
        return True

    def next_control(self, deadline: float) -> Message | None:
        try:
            return self.control.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None

    def cpu_time(self) -> float:
        """CPU seconds of the child's whole tree (bubblewrap's processes and the worker)."""
        try:
            process = psutil.Process(self.pid)
            total = 0.0
            for p in (process, *process.children(recursive=True)):
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            return 0.0
        return total

    def kill(self) -> None:
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGKILL)  # its own group (start_new_session)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.error("sandbox child %d did not die after SIGKILL", self.pid)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def close(self, timeout: float) -> None:
        self.send({"op": "close"})
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=timeout)
        self.kill()

    def describe_exit(self) -> str:
        """' (exit reason)' plus the tail of the child's output, for error messages."""
        try:
            rc = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return ""
        if self.wrapped and rc > 128:
            rc = 128 - rc
        if self.broken:
            reason = f"stopped by the agent: {self.broken}"
        elif rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            reason = _HINTS.get(-rc, f"killed by {name}")
        else:
            reason = f"exited with code {rc}"
        time.sleep(0.05)  # let the drain thread collect the last output
        tail = b"".join(self.output).decode("utf-8", "replace").strip()[-1500:]
        return f" ({reason})" + (f"; its last output:\n{tail}" if tail else "")

    def _give_up(self, why: str) -> None:
        if not self.broken:
            self.broken = why
            log.error("sandbox child %d: %s; killing it", self.pid, why)
        with contextlib.suppress(OSError, ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def _read(self) -> None:
        reader = wire.FrameReader()
        try:
            while not self.broken:
                try:
                    data = self.sock.recv(1 << 20)
                except TimeoutError:
                    continue
                if not data:
                    break
                for frame in reader.feed(data):
                    header, region = wire.unpack(frame)
                    if not self.on_message(self, header):
                        self.control.put_nowait((header, region))
        except wire.WireError as e:
            self._give_up(f"it broke the channel's format ({e})")
        except queue.Full:
            self._give_up(f"it sent more than {MAX_QUEUED} control messages without waiting for answers")
        except OSError:
            pass
        finally:  # after everything it sent, or instead of what it flooded
            if self.broken:
                with contextlib.suppress(queue.Empty):
                    while True:
                        self.control.get_nowait()
            with contextlib.suppress(queue.Full):
                self.control.put_nowait(({"msg": "eof"}, memoryview(b"")))

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout as out:
            for line in out:
                self.output.append(line[-2000:])
                log.debug("sandbox[%d]: %s", self.pid, line.rstrip().decode("utf-8", "replace"))
