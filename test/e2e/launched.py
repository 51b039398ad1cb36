"""A bringup started as users start it (`maestro launch ROBOT ARGS`) for an e2e test module."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Launched:
    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)  # its output so far

    def tail(self, characters: int = 3000) -> str:
        return "".join(self.lines)[-characters:]


@contextmanager
def launched(robot: str, *arguments: str, env: dict[str, str] | None = None) -> Iterator[Launched]:
    """The graph of ``maestro launch robot arguments...``; on exit it is stopped with SIGINT (as Ctrl-C)
    and the test fails if any node printed a traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "maestro_agent.cli", "launch", robot, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
    )
    graph = Launched(process)
    assert process.stdout is not None
    reader = threading.Thread(
        target=lambda: graph.lines.extend(iter(process.stdout.readline, "")), daemon=True
    )
    reader.start()
    try:
        yield graph
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
        reader.join(5)
        assert "Traceback" not in "".join(graph.lines), graph.tail(5000)
