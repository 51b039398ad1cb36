"""InlineSubscriptionExecutor (run_node's executor): subscriptions in the spinning thread, everything else
in the pool, so a service callback may block until a subscription delivers; a callback that raises is
reported and the spin goes on, there and in a BackgroundSpinner."""

from __future__ import annotations

import threading

import pytest
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from maestro_tools.common.spinning import BackgroundSpinner, InlineSubscriptionExecutor
from test.ros.helpers import unique, wait_for, wait_future


class Waiter(Node):
    """``wait`` answers with the next message on ``words``, which arrives while it blocks."""

    def __init__(self, context: Context, topic: str, service: str) -> None:
        super().__init__(unique("inline_waiter"), context=context)
        group = ReentrantCallbackGroup()
        self.words: list[str] = []
        self.threads: dict[str, set[int]] = {"subscription": set(), "service": set()}
        self.heard = threading.Condition()
        self.create_subscription(String, topic, self.on_word, 10, callback_group=group)
        self.create_service(Trigger, service, self.on_wait, callback_group=group)

    def on_word(self, message: String) -> None:
        self.threads["subscription"].add(threading.get_ident())
        with self.heard:
            self.words.append(message.data)
            self.heard.notify_all()

    def on_wait(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.threads["service"].add(threading.get_ident())
        with self.heard:
            seen = len(self.words)
            response.success = self.heard.wait_for(lambda: len(self.words) > seen, timeout=10.0)
            response.message = self.words[-1] if response.success else ""
        return response


def test_a_blocking_service_gets_its_message_from_a_subscription_run_inline() -> None:
    topic, service = unique("inline_words"), unique("inline_wait")
    server_context, client_context = Context(), Context()
    rclpy.init(context=server_context)
    rclpy.init(context=client_context)
    executor = InlineSubscriptionExecutor(num_threads=4, context=server_context)
    waiter = Waiter(server_context, topic, service)
    executor.add_node(waiter)
    spinner = BackgroundSpinner(executor).start()
    client_node = Node(unique("inline_client"), context=client_context)
    client_spinner = BackgroundSpinner(InlineSubscriptionExecutor(num_threads=2, context=client_context))
    client_spinner.executor.add_node(client_node)
    client_spinner.start()
    try:
        publisher = client_node.create_publisher(String, topic, 10)
        client = client_node.create_client(Trigger, service)
        assert client.wait_for_service(timeout_sec=10)
        assert wait_for(lambda: publisher.get_subscription_count() > 0, 10)
        for word in ("first", "second"):
            future = client.call_async(Trigger.Request())
            assert wait_for(lambda: waiter.threads["service"], 5)  # the service now blocks in the pool
            # Published until heard: the service's wait starts at some moment after its thread shows up.
            assert wait_for(lambda f=future, w=word: f.done() or publisher.publish(String(data=w)), 10)
            assert wait_future(future, 5) and future.result().success
            assert future.result().message == word
        spin_thread = spinner._thread.ident
        assert waiter.threads["subscription"] == {spin_thread}
        assert spin_thread not in waiter.threads["service"]
    finally:
        client_spinner.stop()
        spinner.stop()
        client_node.destroy_node()
        waiter.destroy_node()
        rclpy.shutdown(context=client_context)
        rclpy.shutdown(context=server_context)


class Faulty(Node):
    """A timer and a subscription whose callbacks raise every other call (a bug, not a bad request)."""

    def __init__(self, context: Context, topic: str) -> None:
        super().__init__(unique("inline_faulty"), context=context)
        self.calls = {"timer": 0, "subscription": 0}
        self.create_timer(0.02, lambda: self.call("timer"))
        self.create_subscription(String, topic, lambda _: self.call("subscription"), 10)

    def call(self, kind: str) -> None:
        self.calls[kind] += 1
        if self.calls[kind] % 2:
            raise RuntimeError(f"{kind} bug")


@pytest.mark.parametrize("executor_class", [InlineSubscriptionExecutor, MultiThreadedExecutor])
def test_a_raising_callback_is_reported_and_the_spin_goes_on(executor_class, capfd) -> None:
    """The stock executor ends its spin with a callback's exception; every later callback would be lost."""
    topic = unique("inline_faulty")
    context = Context()
    rclpy.init(context=context)
    executor = executor_class(num_threads=2, context=context)
    node = Faulty(context, topic)
    executor.add_node(node)
    spinner = BackgroundSpinner(executor).start()
    try:
        publisher = node.create_publisher(String, topic, 10)
        assert wait_for(lambda: publisher.get_subscription_count() > 0, 10)
        assert wait_for(lambda: publisher.publish(String(data="x")) or node.calls["subscription"] >= 4, 10)
        assert wait_for(lambda: node.calls["timer"] >= 4, 10)
        assert spinner._thread.is_alive()
    finally:
        spinner.stop()
        node.destroy_node()
        rclpy.shutdown(context=context)
    logged = capfd.readouterr().err
    assert "a callback raised; the executor goes on" in logged
    assert "RuntimeError: timer bug" in logged and "RuntimeError: subscription bug" in logged
