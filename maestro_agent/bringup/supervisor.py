"""Start a resolved bringup as supervised OS processes: what ``ros2 launch`` does, without ROS's launch.

Each node runs in its own process group with ``--ros-args`` naming, namespacing, parameters and
remappings, below a keeper process (``keeper.py``) that makes sure nothing the node starts outlives
the supervisor, however the supervisor dies. Output lines are prefixed with the node name.

- ``respawn`` nodes are restarted when they exit, until one dies ``respawn_max_deaths`` times within
  ``respawn_window`` seconds (a life longer than the window starts the count again): then it is
  given up, once, with its last output lines, and the supervisor's exit status becomes 1.
- A ``required`` node that ends for good (it exits and does not respawn, or it was given up) takes
  the graph down; the exit status is its code (1 if that was 0). The supervisor also ends when no
  node is left running (status 1 if one failed or was given up).
- SIGINT/SIGTERM/SIGHUP to the supervisor stops every node: SIGINT, then SIGTERM, then SIGKILL of
  the node and all of its descendants, after grace periods; a node still running when a grace period
  ends is named.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from maestro_agent.bringup.keeper import PID_MARK
from maestro_agent.bringup.spec import ResolvedNode

KEEPER = Path(__file__).with_name("keeper.py")
TAIL_LINES = 20  # output lines kept per node for the give-up report
_TAIL_CHARS = 500


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
    process: subprocess.Popen[bytes] | None = None  # the node's keeper
    restart_at: float | None = None
    starts: int = 0
    deaths: deque[float] = field(default_factory=deque)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    reader: threading.Thread | None = field(default=None, repr=False)


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
        # A plain flag, not a threading.Event: Event.set() from a signal handler can deadlock on the
        # Event's lock when the signal lands while the main thread holds it (in Event.wait).
        self._stopping = False
        self._write_lock = threading.Lock()
        self._width = max((len(c.node.name) for c in self._children), default=0)
        self._exit_code = 0
        self._lifeline: tuple[int, int] | None = None  # (read, write): EOF tells the keepers we are gone

    # -- output ---------------------------------------------------------------------------------
    def log(self, name: str, line: str) -> None:
        # A closed terminal (SIGHUP) must not stop the shutdown or the pumps that keep nodes unblocked.
        with self._write_lock, contextlib.suppress(OSError, ValueError):
            self._out.write(f"[{name.ljust(self._width)}] {line}\n")
            self._out.flush()

    def _pump(self, child: _Child, stream: Any, started: str) -> None:
        name = child.node.name
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            if PID_MARK in line:  # the keeper's first line: the node's pid
                line, _, pid = line.partition(PID_MARK)
                self.log(name, f"{started} pid {pid}")
                if not line:
                    continue
            child.tail.append(line[:_TAIL_CHARS])
            self.log(name, line)
        stream.close()

    # -- lifecycle ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the supervisor to shut the graph down (safe from signal handlers and other threads)."""
        self._stopping = True

    def _start(self, child: _Child) -> None:
        assert self._lifeline is not None
        child.starts += 1
        child.restart_at = None
        child.tail.clear()
        keeper = [sys.executable, "-S", "-I", str(KEEPER), "--lifeline", str(self._lifeline[0])]
        keeper += ["--grace", f"{self._sigterm_grace:g}", "--", *child.command]
        try:
            child.process = subprocess.Popen(
                keeper,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env,
                start_new_session=True,  # a Ctrl-C in the terminal reaches the supervisor only
                pass_fds=(self._lifeline[0],),
            )
        except OSError as exc:
            self.log(child.node.name, f"cannot start {child.command[0]}: {exc.strerror}")
            child.process = None
            self._exit_code = self._exit_code or 1
            return
        started = "started" if child.starts == 1 else f"respawned (start {child.starts})"
        child.reader = threading.Thread(
            target=self._pump, args=(child, child.process.stdout, started), daemon=True
        )
        child.reader.start()

    def _gives_up(self, child: _Child, now: float) -> bool:
        """Count this death; True when the node died respawn_max_deaths times within the window.

        A sliding window: a node that lived longer than the window has no earlier death left in it.
        """
        node = child.node
        child.deaths.append(now)
        while child.deaths and child.deaths[0] < now - node.respawn_window:
            child.deaths.popleft()
        return 0 < node.respawn_max_deaths <= len(child.deaths)

    def _reap(self, child: _Child, now: float) -> None:
        assert child.process is not None
        code = child.process.returncode
        child.process = None
        if child.reader is not None:
            child.reader.join(timeout=1.0)  # its last lines first, and in its tail
        self.log(child.node.name, f"exited with code {code}")
        node = child.node
        if node.respawn and not self._gives_up(child, now):
            child.restart_at = now + node.respawn_delay
            return
        if node.respawn:
            tail = list(child.tail) or ["(it printed nothing)"]
            self.log(
                "maestro",
                f"{node.name} died {len(child.deaths)} times in {node.respawn_window:g} s; "
                "not restarting. Its last lines:",
            )
            for line in tail:
                self.log("maestro", f"    {line}")
        if node.required:
            self.log(node.name, "required node ended: shutting down the graph")
            self._exit_code = code if code else 1
            self.stop()
        elif code != 0 or node.respawn:
            self._exit_code = self._exit_code or 1

    def run(self, *, install_signal_handlers: bool = True) -> int:
        """Start every node, supervise until stopped or all ended; return the exit code."""
        previous: dict[int, Any] = {}
        if install_signal_handlers:
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                previous[signum] = signal.signal(signum, lambda *_: self.stop())
        self._lifeline = os.pipe()  # not inherited by anyone but the keepers (pass_fds)
        try:
            for child in self._children:
                self._start(child)
            while not self._stopping:
                now = time.monotonic()
                for child in self._children:
                    if child.process is not None and child.process.poll() is not None:
                        self._reap(child, now)
                    if child.restart_at is not None and now >= child.restart_at and not self._stopping:
                        self._start(child)
                if all(c.process is None and c.restart_at is None for c in self._children):
                    break
                time.sleep(0.05)
        finally:
            self._shutdown()
            for fd in self._lifeline:
                os.close(fd)
            self._lifeline = None
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return self._exit_code

    def _running(self) -> list[_Child]:
        return [c for c in self._children if c.process is not None and c.process.poll() is None]

    def _signal_all(self, signum: int) -> None:
        """Signal each keeper: it forwards SIGINT/SIGTERM to its node's group; SIGUSR1 = SIGKILL all."""
        for child in self._running():
            assert child.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.process.pid, signum)

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
        running = self._running()
        if running:
            self.log("maestro", f"stopping {len(running)} node(s)")
        steps = (
            (signal.SIGINT, self._sigint_grace, "SIGTERM"),
            (signal.SIGTERM, self._sigterm_grace, "SIGKILL"),
        )
        for signum, grace, then in steps:
            self._signal_all(signum)
            if self._wait_all(grace):
                break
            late = ", ".join(c.node.name for c in self._running())
            self.log(
                "maestro", f"still running {grace:g} s after {signal.Signals(signum).name}: {late}; {then}"
            )
        else:
            self._signal_all(signal.SIGUSR1)  # the keepers SIGKILL their node and its descendants
            if not self._wait_all(5.0):
                self._signal_all(signal.SIGKILL)  # a stuck keeper: its node dies with it (PDEATHSIG)
                self._wait_all(2.0)
        for child in self._children:
            if child.process is not None:
                if child.reader is not None:
                    child.reader.join(timeout=1.0)
                self.log(child.node.name, f"stopped (code {child.process.returncode})")
                child.process = None
