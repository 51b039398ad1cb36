"""The keeper: one small process per node between ``maestro launch`` and the node, so that nothing
of the graph outlives the launcher, however the launcher dies (SIGKILL included).

    launcher --(lifeline pipe, stdout pipe)--> keeper --(fork, setsid, exec)--> node --> its children

- The keeper is a child subreaper (``PR_SET_CHILD_SUBREAPER``): whatever the node starts, in its own
  session or double-forked, is re-parented to the keeper when its parent dies, never to init, so the
  keeper always finds the node's whole subtree by walking parent links in /proc.
- The launcher holds the write end of a pipe whose read end every keeper holds. The kernel closes it
  when the launcher dies, however it dies: EOF on the lifeline means "launcher gone". The keeper then
  sends SIGTERM to the node's process group and every descendant, and SIGKILL after ``--grace``.
  (A pipe, not ``PR_SET_PDEATHSIG`` on the node: that signal fires when the launcher's *thread* that
  forked exits, is a catchable SIGTERM a node may only note, and is lost if the launcher dies between
  fork and prctl.)
- The node is ``PR_SET_PDEATHSIG(SIGKILL)``-tied to the keeper, which is single-threaded (so the
  thread that forked lives as long as the process): if the keeper itself is killed, so is the node.
- SIGINT, SIGTERM and SIGHUP sent to the keeper are forwarded to the node's process group (to the
  leftover descendants once the node has exited); SIGUSR1 means "SIGKILL the node and all of its
  descendants now" (the launcher's last resort).
- When the node exits by itself, its leftover descendants get SIGTERM, then SIGKILL after ``--grace``,
  and the keeper exits with the node's status (the same code, or killed by the same signal), so the
  launcher sees the node's own exit.

Only the standard library: the launcher runs this file with ``python -S -I`` (fast, no site hooks).
Usage: ``keeper.py --lifeline FD --grace SECONDS -- COMMAND...``
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import select
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36
PID_MARK = "\x1emaestro-keeper node-pid "  # first line the launcher reads: the node's pid
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    _libc.prctl(option, value, 0, 0, 0)


def _say(text: str) -> None:
    with contextlib.suppress(OSError):  # the launcher (the reader of this pipe) may be gone
        os.write(2, f"{text}\n".encode())


def descendants(root: int) -> list[int]:
    """Live (non-zombie) processes below ``root``, found through their parent links in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, stack = [], [root]
    while stack:
        for pid in children.get(stack.pop(), []):
            found.append(pid)
            stack.append(pid)
    return found


class Keeper:
    def __init__(self, command: list[str], lifeline: int, grace: float) -> None:
        self.command = command
        self.lifeline = lifeline
        self.grace = grace
        self.me = os.getpid()
        self.node = 0
        self.status: int | None = None  # the node's wait status once it exited

    def start(self) -> None:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        _libc.prctl(PR_SET_NAME, ctypes.c_char_p(b"maestro-keeper"), 0, 0, 0)  # its name in ps -e, top
        os.set_inheritable(self.lifeline, False)
        # Block the signals we forward until the node's pid is known, so none is lost or handled twice.
        blocked = {*FORWARDED, signal.SIGUSR1}
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        for signum in FORWARDED:
            signal.signal(signum, self._forward)
        signal.signal(signal.SIGUSR1, lambda *_: self.kill_all())
        pid = os.fork()
        if pid == 0:
            self._exec(blocked)
        self.node = pid
        with contextlib.suppress(OSError):
            os.write(1, f"{PID_MARK}{pid}\n".encode())
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)

    def _exec(self, blocked: set[int]) -> None:  # in the forked child: become the node
        try:
            # Default dispositions before unblocking (a stop signal pending since the fork then ends
            # this child), and for SIGPIPE/SIGXFSZ, which Python ignores and exec would keep ignored.
            for signum in (*blocked, signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
            os.setsid()
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != self.me:  # the keeper died before the prctl
                os._exit(1)
            os.execvp(self.command[0], self.command)
        except OSError as exc:
            _say(f"cannot start {self.command[0]}: {exc.strerror}")
        finally:
            os._exit(127)

    def _forward(self, signum: int, _frame: object = None) -> None:
        if self.status is None:
            try:
                os.killpg(self.node, signum)
            except ProcessLookupError:  # not yet its own group leader (just forked)
                self._signal([self.node], signum)
            except PermissionError:
                pass
        else:
            self._signal(descendants(self.me), signum)

    @staticmethod
    def _signal(pids: list[int], signum: int) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.node:
                self.status = status

    def terminate_all(self) -> None:
        """SIGTERM the node's group and every descendant, SIGKILL what is left after the grace period."""
        if self.status is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.node, signal.SIGTERM)
        self._signal(descendants(self.me), signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            self.reap()
            if not descendants(self.me):
                return
            time.sleep(0.05)
        self.kill_all()

    def kill_all(self) -> None:
        """SIGKILL the node and its descendants until none is left (new ones may fork meanwhile)."""
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            left = descendants(self.me)
            if not left:
                break
            self._signal(left, signal.SIGKILL)
            self.reap()
            time.sleep(0.02)
        self.reap()

    def run(self) -> int:
        self.start()
        while self.status is None:
            ready, _, _ = select.select([self.lifeline], [], [], 0.2)
            if ready and not os.read(self.lifeline, 64):
                _say("[maestro] the launcher is gone: stopping this node")
                self.terminate_all()
                break
            self.reap()
        if self.status is None:  # killed during terminate_all's last step and not reaped yet
            with contextlib.suppress(ChildProcessError):
                self.status = os.waitpid(self.node, 0)[1]
        if descendants(self.me):  # what the node left behind
            self.terminate_all()
        return os.waitstatus_to_exitcode(self.status if self.status is not None else 0)


def exit_like(code: int) -> None:
    """Exit with ``code``, or be killed by the same signal the node was (``code`` < 0)."""
    if code >= 0:
        os._exit(code)
    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a SIGSEGV'd node: no core of the keeper
        if -code not in (signal.SIGKILL, signal.SIGSTOP):  # these two cannot be caught nor reset
            signal.signal(-code, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {-code})
        os.kill(os.getpid(), -code)
    os._exit(128 - code)


def main(argv: list[str]) -> None:
    try:
        split = argv.index("--")
        options = dict(zip(argv[:split:2], argv[1:split:2], strict=True))
        lifeline, grace, command = int(options["--lifeline"]), float(options["--grace"]), argv[split + 1 :]
    except (ValueError, KeyError):
        _say(f"usage: {sys.argv[0]} --lifeline FD --grace SECONDS -- COMMAND...")
        os._exit(2)
    if not command:
        os._exit(2)
    exit_like(Keeper(command, lifeline, grace).run())


if __name__ == "__main__":
    main(sys.argv[1:])
