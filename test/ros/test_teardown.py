"""destroy_node and close_context end a context's DDS participant at once: rclpy's destroy_node alone
leaves it (and its discovery) running until the garbage collector gets to the node's action clients."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import rclpy
from control_msgs.action import GripperCommand
from rclpy.action import ActionServer
from rclpy.context import Context
from rclpy.node import Node

from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.teardown import close_context, destroy_node
from test.ros.helpers import unique


def participants() -> int:
    """The DDS participants alive in this process (Fast DDS runs one event thread, dds.ev.N, for each)."""
    names = []
    for thread in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{thread}/comm") as comm:
                names.append(comm.read())
        except FileNotFoundError:  # that thread ended meanwhile
            continue
    return sum(name.startswith("dds.ev") for name in names)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Only reference counting frees objects meanwhile (what the collector would free later is the point)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def left_after(teardown: Callable[[Node, Context], None]) -> int:
    """Participants left after a context with a node, an action client and an action server is torn down."""
    with collector_paused():
        before = participants()
        context = Context()
        rclpy.init(context=context)
        node = Node(unique("teardown"), context=context)
        ThreadSafeActionClient(node, GripperCommand, unique("teardown_action"))
        ActionServer(node, GripperCommand, unique("teardown_action"), lambda handle: None)
        assert participants() == before + 1
        teardown(node, context)
        del node, context
        return participants() - before


def stock_teardown(node: Node, context: Context) -> None:
    node.destroy_node()
    rclpy.shutdown(context=context)


def maestro_teardown(node: Node, context: Context) -> None:
    destroy_node(node)
    close_context(context)


def test_the_participant_ends_with_the_context() -> None:
    assert left_after(maestro_teardown) <= 0


def test_rclpy_alone_leaves_it_to_the_garbage_collector() -> None:
    """If this starts failing, rclpy's destroy_node destroys action clients and servers itself."""
    try:
        assert left_after(stock_teardown) == 1
    finally:
        gc.collect()
