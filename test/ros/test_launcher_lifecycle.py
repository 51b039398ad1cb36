"""`maestro launch` as a whole process: a crash-looping node is given up, SIGINT stops every node, and
SIGKILL of the launcher leaves no process of the graph alive (nodes, and their children in their own
sessions, like the agent's sandbox worker). The small graphs are fakes; the last test runs the real
Franka bringup (`vlm:=scripted`) and kills the launcher in the middle of a task."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from test.polling import wait_for

# A fake node: prints its pid and its child's, a child in its own session like the sandbox worker.
# deaf=True: both ignore SIGINT and SIGTERM (the worst case); else the node stops on SIGINT/SIGTERM.
FAKE_NODE = """#!{python}
import os, signal, subprocess, sys, time
deaf = {deaf}
ignore = "for s in (signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_IGN)\\n"
child_code = "import signal, time\\n" + (ignore if deaf else "") + "time.sleep(600)"
child = subprocess.Popen([sys.executable, "-c", child_code], start_new_session=True)
if deaf:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
try:  # the tests signal once they have read the pids: a SIGINT lands inside the try
    print("fake pid", os.getpid(), flush=True)
    print("fake pid", child.pid, flush=True)
    time.sleep(600)
except KeyboardInterrupt:
    print("fake node: stopping", flush=True)
"""
FAKE_CRASHER = """#!{python}
import sys
print("fake_crasher: loading the scene", flush=True)
print("RuntimeError: fake: cannot open a display", flush=True)
sys.exit(3)
"""


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_leftovers(pids: list[int]) -> list[int]:
    """SIGKILL whichever of ``pids`` is still alive (a failing test leaves nothing behind); return them."""
    left = [pid for pid in pids if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


def describe(pids: list[int]) -> list[str]:
    """'pid command' of each of ``pids`` still alive, for failure messages."""
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            found.append(f"{pid} {' '.join(psutil.Process(pid).cmdline())[:160]}")
    return found


class Launch:
    """``maestro launch ROBOT`` in a subprocess, its output collected line by line in a thread."""

    def __init__(self, robot: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maestro_agent.cli", "launch", robot, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        assert self.proc.stdout is not None
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self.reader.start()

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> None:
        ok = wait_for(lambda: predicate(self.text) or self.proc.poll() is not None, timeout)
        assert ok and self.proc.poll() is None, self.text

    def pids(self, marker: str) -> list[int]:
        return [int(line.rsplit(" ", 1)[1]) for line in list(self.lines) if marker in line]

    def close(self) -> None:
        """Whatever a test left running (a failing test leaves nothing behind)."""
        pids = [*self.graph(), *self.pids("fake pid"), *self.pids("] started pid")]
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if not wait_for(lambda: not any(alive(pid) for pid in pids), 15):
            kill_leftovers(pids)

    def graph(self) -> list[int]:
        """The pids of every process below the launcher (keepers, nodes, their children)."""
        try:
            return [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


@pytest.fixture
def launches() -> Iterator[list[Launch]]:
    started: list[Launch] = []
    yield started
    for launch in started:
        launch.close()


@pytest.fixture
def fake_robot(tmp_path: Path) -> Iterator[Callable[[str], dict[str, str]]]:
    """Write config/bringup/<robot>.yaml under tmp_path with fake node executables; return the env."""

    def write(nodes_yaml: str) -> dict[str, str]:
        for name, text in {
            "fake_polite_node": FAKE_NODE.format(python=sys.executable, deaf=False),
            "fake_deaf_node": FAKE_NODE.format(python=sys.executable, deaf=True),
            "fake_crasher_node": FAKE_CRASHER.format(python=sys.executable),
        }.items():
            (tmp_path / name).write_text(text)
            (tmp_path / name).chmod(0o755)
        (tmp_path / "config" / "bringup").mkdir(parents=True, exist_ok=True)
        spec = "version: 1\nrobot: fakebot\nnodes:\n" + nodes_yaml.format(bin=tmp_path)
        (tmp_path / "config" / "bringup" / "fakebot.yaml").write_text(spec)
        return dict(os.environ, MAESTRO_SHARE_DIR=str(tmp_path))

    yield write


def test_a_crash_looping_required_node_is_given_up_and_the_launcher_exits_with_its_code(
    fake_robot, launches: list[Launch]
) -> None:
    env = fake_robot(
        "  - {{name: fake_crasher, executable: {bin}/fake_crasher_node, respawn: true, respawn_delay: 0.1,\n"
        "     respawn_max_deaths: 3, respawn_window: 120, required: true}}\n"
        "  - {{name: fake_polite, executable: {bin}/fake_polite_node}}\n"
    )
    launch = Launch("fakebot", env=env)
    launches.append(launch)
    assert launch.proc.wait(120) == 3, launch.text
    launch.reader.join(10)
    text = launch.text
    assert text.count("exited with code 3") == 3, text
    assert text.count("fake_crasher died 3 times in 120 s; not restarting. Its last lines:") == 1, text
    assert "RuntimeError: fake: cannot open a display" in text.split("not restarting")[1]
    pids = launch.pids("fake pid")
    assert wait_for(lambda: not any(alive(pid) for pid in pids), 30), kill_leftovers(pids)


def test_sigint_stops_cooperating_nodes_and_their_children_without_escalation(
    fake_robot, launches: list[Launch]
) -> None:
    env = fake_robot(
        "  - {{name: fake_a, executable: {bin}/fake_polite_node, respawn: true}}\n"
        "  - {{name: fake_b, executable: {bin}/fake_polite_node}}\n"
    )
    launch = Launch("fakebot", env=env)
    launches.append(launch)
    launch.wait_for(lambda text: text.count("fake pid") == 4, 60)
    pids = launch.graph()
    assert set(launch.pids("fake pid")) <= set(pids), launch.text  # the nodes and their children
    launch.proc.send_signal(signal.SIGINT)
    assert launch.proc.wait(60) == 0, launch.text
    assert wait_for(lambda: not any(alive(pid) for pid in pids), 30), kill_leftovers(pids)
    launch.reader.join(10)
    assert launch.text.count("fake node: stopping") == 2 and "still running" not in launch.text, launch.text


def test_sigkill_of_the_launcher_leaves_no_process_of_the_graph(fake_robot, launches: list[Launch]) -> None:
    env = fake_robot(
        "  - {{name: fake_polite, executable: {bin}/fake_polite_node, respawn: true}}\n"
        "  - {{name: fake_deaf, executable: {bin}/fake_deaf_node, respawn: true}}\n"
    )
    launch = Launch("fakebot", env=env)
    launches.append(launch)
    launch.wait_for(lambda text: text.count("fake pid") == 4, 60)
    pids = launch.graph()
    assert set(launch.pids("fake pid")) <= set(pids), launch.text  # the nodes and their children
    launch.proc.kill()
    launch.proc.wait(10)
    # The default grace is 3 s between SIGTERM and SIGKILL: generous on a loaded machine.
    assert wait_for(lambda: not any(alive(pid) for pid in pids), 30), kill_leftovers(pids)


@pytest.mark.slow
def test_sigkill_of_maestro_launch_franka_in_the_middle_of_a_task_leaves_nothing(
    launches: list[Launch],
) -> None:
    """The measured case: SIGKILL while the agent's program moves the arm. Before the keepers, motion,
    the agent and its sandbox worker outlived the launcher (motion's goal waits for a controller result
    that no one spins for, and the node's exit waits for that goal)."""
    launch = Launch("franka", "vlm:=scripted")
    launches.append(launch)
    client: subprocess.Popen[str] | None = None
    pids: list[int] = []
    try:
        launch.wait_for(lambda text: "agent ready" in text and "sim ready" in text, 240)
        client = subprocess.Popen(
            [sys.executable, "-m", "maestro_agent.cli", "run", "Put the tennis ball into the bowl."],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        progress: list[str] = []
        assert client.stdout is not None
        threading.Thread(target=lambda: progress.extend(client.stdout), daemon=True).start()
        assert wait_for(lambda: any(line.startswith("executing") for line in progress), 240), progress
        time.sleep(2.0)  # into the motion
        pids = launch.graph()
        nodes = launch.pids("] started pid")  # one line per node
        assert len(nodes) == 7 and set(nodes) <= set(pids), launch.text  # sim, 5 modules, agent
        assert any("maestro_agent.sandbox.worker" in line for line in describe(pids)), describe(pids)
        launch.proc.kill()
        launch.proc.wait(10)
        assert wait_for(lambda: not any(alive(pid) for pid in pids), 40), describe(pids)
    finally:
        if client is not None and client.poll() is None:
            client.kill()
        kill_leftovers(pids)
