"""The process supervisor behind `maestro launch`: prefixes, respawn, required nodes, clean shutdown."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from maestro_agent.bringup.spec import ResolvedNode
from maestro_agent.bringup.supervisor import Supervisor


def node(name: str, *, respawn: bool = False, required: bool = False, delay: float = 0.1) -> ResolvedNode:
    return ResolvedNode(
        name=name,
        package="maestro",
        executable=name,
        namespace="/",
        parameters={},
        param_files=(),
        remappings=(),
        arguments=(),
        respawn=respawn,
        respawn_delay=delay,
        required=required,
    )


def py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); read its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_output_is_prefixed_and_exit_codes_reported() -> None:
    out = io.StringIO()
    code = Supervisor(
        [
            (node("talker"), py("print('hello'); print('bye')")),
            (node("failer"), py("import sys; sys.exit(3)")),
        ],
        out=out,
    ).run(install_signal_handlers=False)
    text = out.getvalue()
    assert "[talker] hello" in text and "[talker] bye" in text
    assert "[failer] exited with code 3" in text
    assert code == 1  # a non-respawning node failed


def test_respawn_restarts_a_crashed_node_until_stopped() -> None:
    out = io.StringIO()
    supervisor = Supervisor(
        [(node("crasher", respawn=True, delay=0.05), py("import sys; sys.exit(1)"))], out=out
    )
    import threading

    runner = threading.Thread(target=supervisor.run, kwargs={"install_signal_handlers": False})
    runner.start()
    assert wait_until(lambda: out.getvalue().count("respawned") >= 2)
    supervisor.stop()
    runner.join(10)
    assert not runner.is_alive()


def test_required_node_exit_stops_the_graph() -> None:
    out = io.StringIO()
    started = time.monotonic()
    code = Supervisor(
        [
            (node("main", required=True), py("import sys; sys.exit(4)")),
            (node("server"), py("import time; time.sleep(60)")),
        ],
        out=out,
    ).run(install_signal_handlers=False)
    assert code == 4
    assert time.monotonic() - started < 10
    assert "required node ended" in out.getvalue()


STUBBORN = """
import os, signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("pid", os.getpid(), flush=True)
time.sleep(600)
"""
PARENT = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("pid", os.getpid(), flush=True)
print("pid", child.pid, flush=True)
time.sleep(600)
"""
# A node that ignores SIGINT and SIGTERM (forces the SIGKILL path) and a node with a grandchild.
SUPERVISED = f"""
import sys
from maestro_agent.bringup.spec import ResolvedNode
from maestro_agent.bringup.supervisor import Supervisor
def n(name):
    return ResolvedNode(name, "maestro", name, "/", {{}}, (), (), (), False, 1.0, False)
commands = [(n("stubborn"), [sys.executable, "-c", {STUBBORN!r}]),
            (n("parent"), [sys.executable, "-c", {PARENT!r}])]
sys.exit(Supervisor(commands, sigint_grace=0.5, sigterm_grace=0.5).run())
"""


def start_supervisor() -> tuple[subprocess.Popen[str], dict[str, list[int]]]:
    """Start the supervisor; return it and the pids each node printed (parent: itself, then its child)."""
    proc = subprocess.Popen([sys.executable, "-c", SUPERVISED], stdout=subprocess.PIPE, text=True)
    pids: dict[str, list[int]] = {"stubborn": [], "parent": []}
    assert proc.stdout is not None
    while len(pids["stubborn"]) + len(pids["parent"]) < 3:
        line = proc.stdout.readline()
        assert line, "supervisor ended before its nodes started"
        if "] pid " in line:
            name = line[1:].split("]", 1)[0].strip()
            pids[name].append(int(line.rsplit(" ", 1)[1]))
    return proc, pids


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_every_process_with_no_orphans(signum: int) -> None:
    proc, by_node = start_supervisor()
    pids = [*by_node["stubborn"], *by_node["parent"]]
    proc.send_signal(signum)
    assert proc.wait(15) == 0
    assert wait_until(lambda: not any(alive(pid) for pid in pids)), [p for p in pids if alive(p)]


def test_killed_supervisor_takes_its_nodes_along() -> None:
    proc, by_node = start_supervisor()
    proc.kill()
    proc.wait(5)
    # A node gets SIGTERM through PR_SET_PDEATHSIG when the supervisor dies. (The stubborn node
    # ignores SIGTERM, and a node's own children are its to manage: both are cleaned up below.)
    parent_pid = by_node["parent"][0]
    assert wait_until(lambda: not alive(parent_pid))
    for pid in [*by_node["stubborn"], *by_node["parent"]]:  # clean up whatever ignored the death signal
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
