"""One sandbox child process: its environment, command line, socket and output, seen from the parent.

The child gets only an allowlist of environment variables (plus the caller's), never one whose name
contains KEY, TOKEN, SECRET, PASSWORD or CREDENTIAL. It runs ``sys.executable -I`` (isolated: no
user site, no PYTHON* variables, no working directory on sys.path); when PYTHONPATH is passed on
purpose (a colcon install, test fixtures) it runs ``-s -P`` instead so PYTHONPATH still counts. It is
the leader of its own process group, and its stdout/stderr (C libraries, faulthandler) are drained
into a short tail kept for crash reports.
"""

from __future__ import annotations

import collections
import contextlib
import json
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

log = logging.getLogger(__name__)

ENV_ALLOWLIST = frozenset(
    {
        "PATH", "LANG", "LC_ALL", "HOME", "PYTHONPATH", "LD_LIBRARY_PATH", "AMENT_PREFIX_PATH",
        "ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_STATIC_PEERS", "ROS_LOCALHOST_ONLY",
        "ROS_DISTRO", "ROS_VERSION", "RMW_IMPLEMENTATION", "CYCLONEDDS_URI",
        "FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE", "MUJOCO_GL",
        "PYTHONUNBUFFERED", "VIRTUAL_ENV",
        "_ROS_WHEELS_BOOTSTRAP_COMPLETE",  # set by the ROS wheels' bootstrap; without it the child re-execs
    }
)  # fmt: skip
SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")
MAX_LINE = 128 * 2**20  # one message from the child (a 4096 x 4096 image fits)
_HINTS = {
    signal.SIGKILL: "killed by SIGKILL: out of memory (OOM killer) or killed from outside",
    signal.SIGSEGV: "crashed in native code (SIGSEGV)",
    signal.SIGBUS: "crashed in native code (SIGBUS)",
    signal.SIGABRT: "aborted in native code (SIGABRT)",
    signal.SIGXCPU: "ran out of CPU time (SIGXCPU)",
}


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: allowlisted variables of this process plus ``extra``, minus secrets."""
    env = {k: v for k, v in os.environ.items() if k in ENV_ALLOWLIST}
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
        self, extra_env: Mapping[str, str], cwd: str, on_message: Callable[[Child, dict], bool]
    ) -> None:
        env = child_env(extra_env)
        ours, theirs = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                [*child_command(env), "--fd", str(theirs.fileno())],
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
        self.sock = ours
        self.pid = self.proc.pid
        self.on_message = on_message
        self.control: queue.Queue[dict[str, Any]] = queue.Queue()
        self.output: collections.deque[bytes] = collections.deque(maxlen=100)
        self.send_lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True, name=f"sandbox-read-{self.pid}").start()
        threading.Thread(target=self._drain, daemon=True, name=f"sandbox-out-{self.pid}").start()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, msg: dict[str, Any]) -> None:
        data = (json.dumps(msg) + "\n").encode()
        with self.send_lock, contextlib.suppress(OSError):  # a dead child is reported by the reader
            self.sock.sendall(data)

    def next_control(self, deadline: float) -> dict[str, Any] | None:
        try:
            return self.control.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None

    def cpu_time(self) -> float:
        try:
            t = psutil.Process(self.pid).cpu_times()
        except psutil.Error:
            return 0.0
        return t.user + t.system

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
        if rc < 0:
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

    def _read(self) -> None:
        stream = self.sock.makefile("rb")
        try:
            while True:
                line = stream.readline(MAX_LINE)
                if not line:
                    break
                try:
                    if not line.endswith(b"\n"):
                        raise ValueError("message too long")
                    msg = json.loads(line)
                except ValueError as e:  # not our worker talking any more: stop it
                    log.error("sandbox child %d broke the protocol (%s); killing it", self.pid, e)
                    self.kill()
                    break
                if isinstance(msg, dict) and not self.on_message(self, msg):
                    self.control.put(msg)
        except OSError:
            pass
        finally:
            stream.close()
            self.control.put({"msg": "eof"})

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout as out:
            for line in out:
                self.output.append(line[-2000:])
                log.debug("sandbox[%d]: %s", self.pid, line.rstrip().decode("utf-8", "replace"))
