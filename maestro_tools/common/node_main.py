"""The standard entry point of every Maestro node: init, spin a multi-threaded executor, shut down cleanly.

    def main(args=None):
        return run_node(SimNode, args)

SIGINT and SIGTERM request a stop; the spin loop notices within ``poll`` seconds. Then the node is
closed (its optional ``close()``, which should end long-running work), the executor spins ``drain``
seconds more so that ended goals can send their results, finishes its in-flight callbacks, spins
``drain`` seconds more so that their results are delivered, the node is destroyed, and only then is
the rclpy context shut down. That order (rather than rclpy's signal handler invalidating the context
under running callbacks) keeps the exit free of "context is not valid" tracebacks, for ``maestro
launch`` and ``ros2 launch`` alike. A node whose constructor raises
a MaestroError (a bad parameter, say) prints one line naming the problem and exits with 2.

The executor is an ``InlineSubscriptionExecutor`` (spinning.py): subscription callbacks (/clock for
use_sim_time, joint states, images) run in the spinning thread and must not block; everything else
runs in its thread pool. A callback that raises is logged with its traceback and the node goes on
(rclpy's executor would end the spin with it, and every later callback with it).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from maestro_tools.common.errors import MaestroError
from maestro_tools.common.spinning import InlineSubscriptionExecutor, stop_executor


def _spin_for(executor: MultiThreadedExecutor, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and rclpy.ok():
        executor.spin_once(timeout_sec=0.02)


def _drained(executor: MultiThreadedExecutor, grace: float) -> bool:
    """Spin until the executor's in-flight callbacks are done or ``grace`` s passed; True if done."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        running = [f for f in getattr(executor, "_futures", []) if not f.done()]
        if not running:
            return True
        try:
            executor.spin_once(timeout_sec=0.02)
        except Exception:  # the context went away under us: nothing more can finish
            return False
    return not [f for f in getattr(executor, "_futures", []) if not f.done()]


def run_node(
    factory: Callable[[], Node],
    args: Sequence[str] | None = None,
    *,
    threads: int = 8,
    poll: float = 0.1,
    drain: float = 0.3,
    grace: float = 3.0,
) -> int:
    """Create the node from ``factory`` and spin it until SIGINT/SIGTERM; return the process exit code.

    ``threads``: executor pool threads. Action goals hold one each while they run, so the default is not
    the CPU count (2 here), which lets two running goals starve every other callback. ``grace``: how
    long in-flight callbacks may take to finish after the stop (spinning meanwhile, so that results
    they wait for still arrive) before the process exits regardless; a second signal exits at once.
    """
    rclpy.init(
        args=list(args) if args is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO
    )
    # A plain counter, not an Event: Event.set() takes a lock the interrupted main thread may hold.
    signals = [0]

    def on_signal(*_: object) -> None:
        signals[0] += 1
        if signals[0] > 1:  # asked twice: stop now, whatever is still running
            os._exit(1)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    executor = InlineSubscriptionExecutor(num_threads=threads)
    node: Node | None = None
    code = 0
    try:
        node = factory()
        executor.add_node(node)
        while not signals[0] and rclpy.ok():
            executor.spin_once(timeout_sec=poll)
    except MaestroError as exc:
        print(f"[{getattr(factory, '__name__', 'node')}] cannot start: {exc}", file=sys.stderr)
        code = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        close = getattr(node, "close", None)
        if callable(close):  # first, so that long-running callbacks (action goals) end now
            close()
            _spin_for(executor, drain)  # so that the goals close() ended can send their results
        if not _drained(executor, grace):
            name = node.get_name() if node is not None else "node"
            print(
                f"[{name}] callbacks still running {grace:.0f} s after the stop: exiting anyway",
                file=sys.stderr,
            )
            sys.stderr.flush()
            os._exit(code or 1)
        # The last callbacks' results are on the wire: a moment more lets the reliable transport deliver
        # (and repeat) them before the node's writers are destroyed.
        _spin_for(executor, drain)
        stop_executor(executor)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code
