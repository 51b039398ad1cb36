"""Ending an rclpy node and its context now, not whenever the garbage collector gets to them.

rclpy's ``Node.destroy_node`` leaves the node's action clients and servers. Their handles keep the
node's handle alive, and with it the context's DDS participant, until their Python objects are
collected (a client and its node refer to each other). A process that opens a short-lived context per
call (``maestro run``, each trial of a ``maestro eval`` worker, the tests) then keeps one participant
per call taking part in discovery. Fast DDS 2.14 can deadlock inside such a participant (its receive
thread removing a departed graph's endpoint waits for its event thread, which waits for a lock the
receive thread holds), and the collector destroying it later blocks the process for good: CI hung in
``rcl_action_client_fini`` called from an unrelated import.
"""

from __future__ import annotations

import rclpy
from rclpy.context import Context
from rclpy.node import Node


def destroy_node(node: Node) -> None:
    """Destroy ``node`` with its action clients and servers (call once nothing spins it)."""
    for waitable in list(node.waitables):
        destroy = getattr(waitable, "destroy", None)
        if callable(destroy):
            destroy()
    node.destroy_node()


def close_context(context: Context) -> None:
    """Shut ``context`` down (if it still runs) and destroy it once its nodes are gone."""
    rclpy.try_shutdown(context=context)
    context.destroy()
