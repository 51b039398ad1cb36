"""Helpers for tests on a real rclpy graph: a context per test, unique node names, spinning."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from maestro_tools.common.spinning import BackgroundSpinner
from maestro_tools.common.teardown import close_context, destroy_node
from test.polling import wait_for

FIXTURES = Path(__file__).resolve().parent / "fixtures"
_counter = itertools.count()


def unique(name: str) -> str:
    """A node or topic name no other test in this run uses."""
    return f"{name}_{os.getpid()}_{next(_counter)}"


@contextmanager
def ros_graph(*nodes_factories: Callable[[Context], Node]) -> Iterator[list[Node]]:
    """Create nodes in a fresh context, spin them in a background MultiThreadedExecutor, tear down."""
    context = Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(context=context)
    nodes = [factory(context) for factory in nodes_factories]
    for node in nodes:
        executor.add_node(node)
    spinner = BackgroundSpinner(executor).start()
    try:
        yield nodes
    finally:
        spinner.stop()
        for node in nodes:
            destroy_node(node)
        close_context(context)


def wait_future(future, timeout: float = 10.0) -> bool:
    return wait_for(future.done, timeout)


def spawn_fixture(script: str, *ros_args: str) -> subprocess.Popen[str]:
    """Start a fixture node in its own OS process (same DDS domain, localhost only)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, str(FIXTURES / script), "--ros-args", *ros_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def stop(process: subprocess.Popen[str], timeout: float = 10.0) -> str:
    """SIGINT a fixture process, wait for it, and return its output."""
    if process.poll() is None:
        process.send_signal(2)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output or ""


class FollowedOutput:
    """A fixture process's output read as it comes (a thread), so that a failing test can show its tail."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process, self.lines = process, []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def tail(self, count: int = 40) -> str:
        return "".join(self.lines[-count:])

    def stop(self, timeout: float = 10.0) -> str:
        """SIGINT the process, wait for it, and return all its output."""
        if self.process.poll() is None:
            self.process.send_signal(2)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(5.0)
        return "".join(self.lines)


def call(client, request, timeout: float = 30.0):
    """Call a service and return its response; fail the test naming the service if it does not answer."""
    assert client.wait_for_service(timeout_sec=30), f"{client.srv_name} is not available"
    future = client.call_async(request)
    assert wait_future(future, timeout), f"{client.srv_name} did not answer within {timeout} s"
    return future.result()


def send_goal(client, goal, feedback: list | None = None):
    """Send an action goal and return its goal handle (feedback messages are appended to ``feedback``)."""
    assert client.wait_for_server(timeout_sec=30), "the action server is not available"
    sent = client.send_goal_async(goal, feedback_callback=feedback.append if feedback is not None else None)
    assert wait_future(sent, 10), "the action server did not answer the goal within 10 s"
    return sent.result()


def goal_result(handle, timeout: float = 60.0):
    """Wait for a goal's result message."""
    future = handle.get_result_async()
    assert wait_future(future, timeout), f"no result within {timeout} s"
    return future.result().result


def goal_outcome(handle, timeout: float = 60.0):
    """Wait for a goal's end: (its GoalStatus code, its result message)."""
    future = handle.get_result_async()
    assert wait_future(future, timeout), f"no result within {timeout} s"
    return future.result().status, future.result().result


def spawn_node(
    module: str, namespace: str, param_files: tuple[str, ...] = (), **parameters: object
) -> subprocess.Popen[str]:
    """Start one of maestro's node modules in its own OS process with ``-p name:=value`` parameters
    (after the ``param_files``, so they win)."""
    arguments = [f"{name}:={value}" for name, value in parameters.items()]
    command = [sys.executable, "-m", module, "--ros-args", "-r", f"__ns:={namespace}"]
    for file in param_files:
        command += ["--params-file", file]
    for argument in arguments:
        command += ["-p", argument]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
