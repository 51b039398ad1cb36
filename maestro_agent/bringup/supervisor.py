"""Start a resolved bringup as supervised OS processes: what ``ros2 launch`` does, without ROS's launch.

Each node runs in its own process group with ``--ros-args`` naming, namespacing, parameters and
remappings. Output lines are prefixed with the node name. Nodes marked ``respawn`` are restarted
when they exit; a ``required`` node that exits takes the whole graph down. SIGINT/SIGTERM to the
supervisor stops every node (SIGINT, then SIGTERM, then SIGKILL after grace periods), and each
child is also tied to the supervisor with PR_SET_PDEATHSIG so that none outlives it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from maestro_agent.bringup.spec import ResolvedNode

_PR_SET_PDEATHSIG = 1


def format_parameter(value: Any) -> str:
    """A parameter value as rcl parses it after ``-p name:=`` (YAML flow style)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20).strip()
    return text.removesuffix("...").strip()


def node_command(node: ResolvedNode, executable: Path | str) -> list[str]:
    """The command line that starts one node with its name, namespace, parameters and remappings."""
    command = [
        str(executable),
        *node.arguments,
        "--ros-args",
        "-r",
        f"__node:={node.name}",
        "-r",
        f"__ns:={node.namespace}",
    ]
    for file in node.param_files:
        command += ["--params-file", str(file)]
    for name, value in node.parameters.items():
        command += ["-p", f"{name}:={format_parameter(value)}"]
    for source, target in node.remappings:
        command += ["-r", f"{source}:={target}"]
    return command


@dataclass
class _Child:
    node: ResolvedNode
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    restart_at: float | None = None
    starts: int = 0
    reader: threading.Thread | None = field(default=None, repr=False)


def _die_with_parent() -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:  # runs in the child between fork and exec: keep it minimal
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return preexec


class Supervisor:
    """Runs a set of node commands until they all end or the supervisor is told to stop."""

    def __init__(
        self,
        commands: Sequence[tuple[ResolvedNode, list[str]]],
        *,
        out: TextIO | None = None,
        env: dict[str, str] | None = None,
        sigint_grace: float = 5.0,
        sigterm_grace: float = 3.0,
    ) -> None:
        self._children = [_Child(node, command) for node, command in commands]
        self._out = out or sys.stdout
        self._env = env
        self._sigint_grace = sigint_grace
        self._sigterm_grace = sigterm_grace
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._width = max((len(c.node.name) for c in self._children), default=0)
        self._exit_code = 0

    # -- output ---------------------------------------------------------------------------------
    def log(self, name: str, line: str) -> None:
        with self._write_lock:
            self._out.write(f"[{name.ljust(self._width)}] {line}\n")
            self._out.flush()

    def _pump(self, child: _Child, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            self.log(child.node.name, raw.decode(errors="replace").rstrip("\n"))
        stream.close()

    # -- lifecycle ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the supervisor to shut the graph down (safe from signal handlers and other threads)."""
        self._stop.set()

    def _start(self, child: _Child) -> None:
        child.starts += 1
        child.restart_at = None
        try:
            child.process = subprocess.Popen(
                child.command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        except OSError as exc:
            self.log(child.node.name, f"cannot start {child.command[0]}: {exc.strerror}")
            child.process = None
            self._exit_code = self._exit_code or 1
            return
        what = "started" if child.starts == 1 else f"respawned (start {child.starts})"
        self.log(child.node.name, f"{what} pid {child.process.pid}")
        child.reader = threading.Thread(target=self._pump, args=(child, child.process.stdout), daemon=True)
        child.reader.start()

    def _reap(self, child: _Child, now: float) -> None:
        assert child.process is not None
        code = child.process.returncode
        self.log(child.node.name, f"exited with code {code}")
        child.process = None
        if child.reader is not None:
            child.reader.join(timeout=1.0)
        if child.node.required:
            self.log(child.node.name, "required node ended: shutting down the graph")
            self._exit_code = code if code else 1
            self.stop()
        elif child.node.respawn:
            child.restart_at = now + child.node.respawn_delay
        elif code != 0:
            self._exit_code = self._exit_code or 1

    def run(self, *, install_signal_handlers: bool = True) -> int:
        """Start every node, supervise until stopped or all ended; return the exit code."""
        previous: dict[int, Any] = {}
        if install_signal_handlers:
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, lambda *_: self.stop())
        try:
            for child in self._children:
                self._start(child)
            while not self._stop.is_set():
                now = time.monotonic()
                for child in self._children:
                    if child.process is not None and child.process.poll() is not None:
                        self._reap(child, now)
                    if child.restart_at is not None and now >= child.restart_at and not self._stop.is_set():
                        self._start(child)
                if all(c.process is None and c.restart_at is None for c in self._children):
                    break
                self._stop.wait(0.05)
        finally:
            self._shutdown()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return self._exit_code

    def _signal_all(self, signum: int) -> None:
        for child in self._children:
            if child.process is not None and child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signum)

    def _wait_all(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for child in self._children:
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return False
        return True

    def _shutdown(self) -> None:
        for child in self._children:
            child.restart_at = None
        running = [c for c in self._children if c.process is not None and c.process.poll() is None]
        if running:
            self.log("maestro", f"stopping {len(running)} node(s)")
        for signum, grace in ((signal.SIGINT, self._sigint_grace), (signal.SIGTERM, self._sigterm_grace)):
            self._signal_all(signum)
            if self._wait_all(grace):
                break
        else:
            self._signal_all(signal.SIGKILL)
            self._wait_all(2.0)
        for child in self._children:
            # The group may still hold grandchildren after the leader exited.
            if child.process is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                if child.reader is not None:
                    child.reader.join(timeout=1.0)
                self.log(child.node.name, f"stopped (code {child.process.returncode})")
                child.process = None
