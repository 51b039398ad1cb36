"""The process supervisor behind `maestro launch`: prefixes, respawn and giving up, required nodes,
clean shutdown, and no process of the graph left behind however the supervisor ends (SIGKILL too)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from maestro_agent.bringup.spec import ResolvedNode
from maestro_agent.bringup.supervisor import Supervisor, _Child
from test.polling import wait_for


def node(
    name: str,
    *,
    respawn: bool = False,
    required: bool = False,
    delay: float = 0.1,
    max_deaths: int = 5,
    window: float = 60.0,
) -> ResolvedNode:
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
        respawn_max_deaths=max_deaths,
        respawn_window=window,
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
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone before, or while, its stat was read
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
        [(node("crasher", respawn=True, delay=0.05, max_deaths=0), py("import sys; sys.exit(1)"))], out=out
    )
    runner = threading.Thread(target=supervisor.run, kwargs={"install_signal_handlers": False})
    runner.start()
    assert wait_for(lambda: out.getvalue().count("respawned") >= 2, 30)
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
    assert time.monotonic() - started < 20
    assert "required node ended" in out.getvalue()


# A fake of a node failing at start-up (no display, say): it prints a traceback and exits with 3.
FAKE_CRASHER = """
import sys
print("fake_crasher: starting", flush=True)
print("Traceback (most recent call last):", flush=True)
print("RuntimeError: fake: no display", flush=True)
sys.exit(3)
"""


def test_a_crash_looping_node_is_given_up_once_with_its_last_lines() -> None:
    out = io.StringIO()
    code = Supervisor(
        [(node("fake_crasher", respawn=True, delay=0.05, max_deaths=3), py(FAKE_CRASHER))], out=out
    ).run(install_signal_handlers=False)
    text = out.getvalue()
    assert text.count("exited with code 3") == 3, text  # started 3 times, not a 4th
    assert "respawned (start 3)" in text and "(start 4)" not in text
    report = "fake_crasher died 3 times in 60 s; not restarting. Its last lines:"
    assert text.count(report) == 1, text
    after = text.split(report, 1)[1].splitlines()[1:4]
    assert [line.split("]", 1)[1].strip() for line in after] == [
        "fake_crasher: starting",
        "Traceback (most recent call last):",
        "RuntimeError: fake: no display",
    ], text
    assert code == 1  # nothing is left running, and a node was given up


def test_a_required_node_given_up_takes_the_graph_down() -> None:
    out = io.StringIO()
    started = time.monotonic()
    crasher = node("fake_crasher", respawn=True, required=True, delay=0.05, max_deaths=2)
    code = Supervisor(
        [(crasher, py(FAKE_CRASHER)), (node("fake_server"), py("import time; time.sleep(600)"))], out=out
    ).run(install_signal_handlers=False)
    text = out.getvalue()
    assert code == 3, text  # the required node's own exit code
    assert time.monotonic() - started < 60
    assert text.count("exited with code 3") == 2, text
    assert "fake_crasher died 2 times in 60 s; not restarting" in text
    assert "required node ended: shutting down the graph" in text and "[fake_server ] stopped" in text


def test_deaths_count_within_a_sliding_window() -> None:
    supervisor = Supervisor([])
    child = _Child(node("n", respawn=True, max_deaths=3, window=10.0), ["n"])
    assert not supervisor._gives_up(child, 100.0)
    assert not supervisor._gives_up(child, 101.0)
    # A life longer than the window: the deaths before it no longer count.
    assert not supervisor._gives_up(child, 115.0)
    assert not supervisor._gives_up(child, 116.0)
    assert supervisor._gives_up(child, 117.0)  # 3 deaths within 10 s
    never = _Child(node("n", respawn=True, max_deaths=0), ["n"])
    assert not any(supervisor._gives_up(never, float(t)) for t in range(100))


# A node that ignores SIGINT and SIGTERM (forces the SIGKILL path).
STUBBORN = """
import os, signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("pid", os.getpid(), flush=True)
time.sleep(600)
"""
# A node with a grandchild like the agent's sandbox worker: in its own session (no signal to the
# node's process group reaches it), and here also deaf to SIGINT/SIGTERM and to its parent's death.
PARENT = """
import os, subprocess, sys, time
deaf = (
    "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
)
child = subprocess.Popen([sys.executable, "-c", deaf], start_new_session=True)
print("pid", os.getpid(), flush=True)
print("pid", child.pid, flush=True)
time.sleep(600)
"""
# A node that stops on SIGINT like a well-behaved ROS node. Its sandbox-like grandchild (own session,
# so the SIGINT does not reach it) is the keeper's to end once the node has exited.
POLITE = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
try:  # the test signals once it has read the pids: the SIGINT lands inside the try
    print("pid", os.getpid(), flush=True)
    print("pid", child.pid, flush=True)
    time.sleep(600)
except KeyboardInterrupt:
    print("polite: bye", flush=True)
"""
SUPERVISED = """
import sys
from maestro_agent.bringup.spec import ResolvedNode
from maestro_agent.bringup.supervisor import Supervisor
def n(name):
    return ResolvedNode(name, "maestro", name, "/", {{}}, (), (), (), False, 1.0, False)
commands = [(n(name), [sys.executable, "-c", code]) for name, code in {nodes!r}.items()]
sys.exit(Supervisor(commands, sigint_grace={grace}, sigterm_grace={grace}).run())
"""


_started: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_supervisor_left() -> Iterator[None]:
    """A failing test leaves no supervisor running (its keepers then end its nodes)."""
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def start_supervisor(
    nodes: dict[str, tuple[str, int]], grace: float = 0.5
) -> tuple[subprocess.Popen[str], dict[str, list[int]], list[str]]:
    """Run ``nodes`` (name: (code, how many pids it prints)) under a supervisor process; return it,
    the pids each node printed, and its output lines (a thread goes on collecting them)."""
    script = SUPERVISED.format(nodes={name: code for name, (code, _) in nodes.items()}, grace=grace)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    _started.append(proc)
    pids: dict[str, list[int]] = {name: [] for name in nodes}
    lines: list[str] = []
    assert proc.stdout is not None
    while sum(map(len, pids.values())) < sum(count for _, count in nodes.values()):
        line = proc.stdout.readline()
        assert line, "supervisor ended before its nodes started:\n" + "".join(lines)
        lines.append(line)
        if "] pid " in line:
            name = line[1:].split("]", 1)[0].strip()
            pids[name].append(int(line.rsplit(" ", 1)[1]))
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    return proc, pids, lines


def kill_leftovers(pids: list[int]) -> list[int]:
    """SIGKILL whichever of ``pids`` is still alive (a failing test leaves nothing behind); return them."""
    left = [pid for pid in pids if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_every_process_with_no_orphans(signum: int) -> None:
    proc, by_node, lines = start_supervisor({"stubborn": (STUBBORN, 1), "parent": (PARENT, 2)})
    pids = [*by_node["stubborn"], *by_node["parent"]]
    proc.send_signal(signum)
    assert proc.wait(60) == 0
    assert wait_for(lambda: not any(alive(pid) for pid in pids), 30), kill_leftovers(pids)
    assert "still running 0.5 s after SIGINT: stubborn" in "".join(lines)  # the escalation, named


def test_cooperating_nodes_stop_on_sigint_without_escalation() -> None:
    proc, by_node, lines = start_supervisor({"polite": (POLITE, 2)}, grace=30.0)
    pids = by_node["polite"]
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0
    assert wait_for(lambda: not any(alive(pid) for pid in pids), 30), kill_leftovers(pids)
    text = "".join(lines)
    assert "polite: bye" in text and "still running" not in text, text
    assert time.monotonic() - started < 30  # within the SIGINT grace: no SIGTERM or SIGKILL step


def test_killed_supervisor_takes_its_nodes_and_their_children_along() -> None:
    proc, by_node, _ = start_supervisor({"stubborn": (STUBBORN, 1), "parent": (PARENT, 2)}, grace=1.0)
    pids = [*by_node["stubborn"], *by_node["parent"]]
    proc.kill()
    proc.wait(10)
    # The keepers see the supervisor's lifeline pipe close: SIGTERM, then SIGKILL 1 s later, to the
    # nodes that ignore SIGTERM and to the grandchild in its own session alike.
    assert wait_for(lambda: not any(alive(pid) for pid in pids), 30), kill_leftovers(pids)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSEGV, signal.SIGTERM])
def test_a_node_killed_by_a_signal_is_reported_as_such(signum: int) -> None:
    out = io.StringIO()
    code = Supervisor([(node("victim"), py(f"import os; os.kill(os.getpid(), {int(signum)})"))], out=out).run(
        install_signal_handlers=False
    )
    assert f"[victim] exited with code {-signum}" in out.getvalue(), out.getvalue()
    assert "Traceback" not in out.getvalue() and code == 1
