"""The keeper between `maestro launch` and each node, run on its own: the node's pid on its first line,
the node dying with a killed keeper, an executable that cannot start, the lifeline closing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest

from maestro_agent.bringup.keeper import PID_MARK
from maestro_agent.bringup.supervisor import KEEPER
from test.polling import wait_for


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Kept:
    """A keeper running ``command``, with the write end of its lifeline held here."""

    def __init__(self, command: list[str], grace: float = 1.0) -> None:
        read, self.lifeline = os.pipe()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-S",
                "-I",
                str(KEEPER),
                "--lifeline",
                str(read),
                "--grace",
                str(grace),
                "--",
                *command,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(read,),
            start_new_session=True,
        )
        os.close(read)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().decode()
        assert first.startswith(PID_MARK), first
        self.node = int(first[len(PID_MARK) :])

    def close(self) -> None:
        for pid in (self.node, self.proc.pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)
        os.close(self.lifeline)


@pytest.fixture
def kept() -> Iterator[list[Kept]]:
    started: list[Kept] = []
    yield started
    for keeper in started:
        keeper.close()


SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def test_the_node_dies_with_a_killed_keeper(kept: list[Kept]) -> None:
    keeper = Kept(SLEEPER)
    kept.append(keeper)
    assert alive(keeper.node) and psutil.Process(keeper.node).ppid() == keeper.proc.pid
    keeper.proc.kill()
    assert wait_for(lambda: not alive(keeper.node), 30)  # PR_SET_PDEATHSIG(SIGKILL)


def test_a_closed_lifeline_ends_the_node(kept: list[Kept]) -> None:
    deaf = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('deaf', flush=True)\n"
    deaf += "time.sleep(600)"
    keeper = Kept([sys.executable, "-c", deaf])
    kept.append(keeper)
    assert keeper.proc.stdout is not None
    assert keeper.proc.stdout.readline() == b"deaf\n"  # its SIGTERM handler is in place
    os.close(keeper.lifeline)  # as when the launcher dies
    keeper.lifeline = os.open(os.devnull, os.O_RDONLY)  # for close()
    assert keeper.proc.wait(30) == -signal.SIGKILL  # it ignored SIGTERM: SIGKILL after the grace period
    assert not alive(keeper.node)


def test_an_executable_that_cannot_start_is_named(kept: list[Kept]) -> None:
    keeper = Kept(["/nonexistent/fake_node"])
    kept.append(keeper)
    assert keeper.proc.wait(30) == 127
    assert keeper.proc.stdout is not None
    assert (
        "cannot start /nonexistent/fake_node: No such file or directory" in keeper.proc.stdout.read().decode()
    )
