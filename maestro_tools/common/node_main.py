"""The standard entry point of every Maestro node: init, spin a MultiThreadedExecutor, shut down cleanly.

    def main(args=None):
        return run_node(SimNode, args)

rclpy's own handlers turn SIGINT and SIGTERM into a context shutdown, which ends the spin; the
node is then closed (its optional ``close()``), destroyed, and rclpy shut down, so the supervisor
(``maestro launch``) and ``ros2 launch`` stop a node without a traceback. A node whose constructor
raises a MaestroError (a bad parameter, say) prints one line naming the problem and exits with 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node

from maestro_tools.common.errors import MaestroError


def run_node(
    factory: Callable[[], Node], args: Sequence[str] | None = None, *, threads: int | None = None
) -> int:
    """Create the node from ``factory`` and spin it until shutdown; return the process exit code."""
    rclpy.init(args=list(args) if args is not None else sys.argv)
    executor = MultiThreadedExecutor(num_threads=threads)
    node: Node | None = None
    code = 0
    try:
        node = factory()
        executor.add_node(node)
        executor.spin()
    except MaestroError as exc:
        print(f"[{getattr(factory, '__name__', 'node')}] cannot start: {exc}", file=sys.stderr)
        code = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown(timeout_sec=1.0)
        if node is not None:
            close = getattr(node, "close", None)
            if callable(close):
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return code
