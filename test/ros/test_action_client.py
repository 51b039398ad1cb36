"""ThreadSafeActionClient: goals sent from a non-spinning thread are never lost to a fast response."""

from __future__ import annotations

import time

from control_msgs.action import GripperCommand
from rclpy.action import ActionClient, ActionServer
from rclpy.node import Node

from maestro_tools.common.action_client import ThreadSafeActionClient
from test.ros.helpers import ros_graph, unique, wait_future


class SlowRecording:
    """Wraps a client's rcl handle so that the Python side records a sent request 50 ms late.

    On a loaded machine the sending thread can be descheduled for that long right after the request
    leaves; this makes the window rclpy leaves open between sending and recording reproducible.
    """

    def __init__(self, handle: object) -> None:
        self._handle = handle

    def __getattr__(self, name: str) -> object:
        return getattr(self._handle, name)

    def _late(self, send):
        def sent(request):
            sequence = send(request)
            time.sleep(0.05)
            return sequence

        return sent

    def send_goal_request(self, request):
        return self._late(self._handle.send_goal_request)(request)

    def send_result_request(self, request):
        return self._late(self._handle.send_result_request)(request)

    def send_cancel_request(self, request):
        return self._late(self._handle.send_cancel_request)(request)


def succeed_at_once(handle) -> GripperCommand.Result:
    handle.succeed()
    return GripperCommand.Result(reached_goal=True)


def answered(client_class: type[ActionClient], goals: int = 5) -> tuple[int, int]:
    """(goals answered, results received) for ``goals`` goals sent from this (non-spinning) thread."""
    action = unique("race")
    nodes = (lambda c: Node(unique("server"), context=c), lambda c: Node(unique("client"), context=c))
    with ros_graph(*nodes) as (server_node, client_node):
        server = ActionServer(server_node, GripperCommand, action, succeed_at_once)
        client = client_class(client_node, GripperCommand, action)
        client._client_handle = SlowRecording(client._client_handle)
        assert client.wait_for_server(timeout_sec=10)
        goal_answers = results = 0
        for _ in range(goals):
            sent = client.send_goal_async(GripperCommand.Goal())
            if not wait_future(sent, 2.0):
                continue
            goal_answers += 1
            result = sent.result().get_result_async()
            results += wait_future(result, 2.0) and result.result().result.reached_goal
        client.destroy()
        server.destroy()
    return goal_answers, results


def test_every_goal_and_result_arrives_even_when_recording_lags() -> None:
    assert answered(ThreadSafeActionClient) == (5, 5)


def test_the_stock_client_loses_them_which_is_why_maestro_does_not_use_it() -> None:
    """If this starts failing, rclpy has fixed the race and ThreadSafeActionClient can go."""
    goal_answers, _ = answered(ActionClient, goals=3)
    assert goal_answers < 3
