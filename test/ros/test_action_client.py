"""ThreadSafeActionClient: goals sent from a non-spinning thread are never lost to a fast response, and two
worker threads handling its responses at once do not corrupt its books."""

from __future__ import annotations

import contextlib
import threading
import time
import weakref

from action_msgs.msg import GoalStatus, GoalStatusArray
from control_msgs.action import GripperCommand
from rclpy.action import ActionClient, ActionServer
from rclpy.action.client import ClientGoalHandle
from rclpy.node import Node
from unique_identifier_msgs.msg import UUID

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


class SlowBooks(dict):
    """A client's goal-handle books whose lookups take 50 ms: a loaded machine's thread switch, made
    reproducible, between "is this goal known" and "forget it"."""

    def __contains__(self, key: object) -> bool:
        known = super().__contains__(key)
        time.sleep(0.05)
        return known


def handle_at_once(coroutine) -> None:
    """Run a client's response handling to its end (it does not suspend without a feedback callback)."""
    with contextlib.suppress(StopIteration):
        coroutine.send(None)
        raise AssertionError("the response handling suspended")


def errors_handling_one_status_twice(client_class: type[ActionClient]) -> list[str]:
    """Two worker threads handle two status messages that both report one goal finished."""
    with ros_graph(lambda c: Node(unique("client"), context=c)) as (node,):
        client = client_class(node, GripperCommand, unique("books"))
        goal_id = UUID(uuid=list(range(16)))
        goal = ClientGoalHandle(client, goal_id, GripperCommand.Impl.SendGoalService.Response(accepted=True))
        client._goal_handles = SlowBooks({bytes(goal_id.uuid): weakref.ref(goal)})
        finished = GoalStatus(status=GoalStatus.STATUS_SUCCEEDED)
        finished.goal_info.goal_id = goal_id
        errors: list[str] = []

        def handle() -> None:
            try:
                handle_at_once(client.execute({"status": GoalStatusArray(status_list=[finished])}))
            except Exception as exc:  # what would end the executor's spin
                errors.append(repr(exc))

        threads = [threading.Thread(target=handle) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        client.destroy()
    return errors


def test_two_threads_handling_responses_at_once_do_not_corrupt_the_books() -> None:
    assert errors_handling_one_status_twice(ThreadSafeActionClient) == []


def test_the_stock_client_raises_from_them() -> None:
    """The KeyError the stock client raises here ends a multi-threaded executor's spin."""
    assert any("KeyError" in error for error in errors_handling_one_status_twice(ActionClient))
