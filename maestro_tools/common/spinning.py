"""Spinning executors in the background and stopping them without racing their callbacks."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

import rclpy.logging
from rclpy.executors import (
    ConditionReachedException,
    Executor,
    ExternalShutdownException,
    MultiThreadedExecutor,
    ShutdownException,
    TimeoutException,
)
from rclpy.subscription import Subscription
from rclpy.task import Future


def report_callback_error(exc: BaseException) -> None:
    """Log a callback's uncaught exception (with its traceback) where rclpy would end the spin with it.

    A callback raising is a bug, but one lost callback is better than a node, or a test's whole graph,
    that no longer answers anything: every callback after it would be lost too.
    """
    trace = "".join(traceback.format_exception(exc)).rstrip()
    rclpy.logging.get_logger("executor").error(f"a callback raised; the executor goes on:\n{trace}")


def stop_executor(executor: Executor, timeout: float = 2.0) -> None:
    """Shut ``executor`` down after the callbacks already handed to its worker threads have finished.

    Call it once nothing spins the executor any more. Jazzy's ``Executor.shutdown()`` does not wait
    for those callbacks (its wait is skipped once ``_is_shutdown`` is set) and destroys the guard
    condition they trigger on completion, so a late one fails with "cannot use Destroyable".
    """
    pool = getattr(executor, "_executor", None)  # MultiThreadedExecutor's ThreadPoolExecutor
    if pool is not None:
        pool.shutdown(wait=True)
    executor.shutdown(timeout_sec=timeout)


class InlineSubscriptionExecutor(MultiThreadedExecutor):
    """A MultiThreadedExecutor that runs subscription callbacks in the spinning thread itself.

    Services, actions, timers and client responses still go to the pool (they may block on other
    callbacks). A subscription handed to the pool costs far more than its callback: until a worker has
    taken the message, Jazzy's executor yields the queued task again on every spin, rebuilding its wait
    set in Python each time (7 spins and about 3 ms of CPU per /clock message here; 1.4 ms inline). So
    every subscription callback of a node spun by this executor must return promptly (store the
    message, signal a waiter) and never wait for another callback.
    """

    def _spin_once_impl(
        self, timeout_sec: float | None = None, wait_condition: Callable[[], bool] = lambda: False
    ) -> None:
        try:
            handler, entity, _ = self.wait_for_ready_callbacks(timeout_sec, None, wait_condition)
        except (ExternalShutdownException, ShutdownException, TimeoutException, ConditionReachedException):
            return
        if not isinstance(entity, Subscription):
            self._executor.submit(handler)
            self._futures.append(handler)
        else:
            handler()
            self._check(handler)
        for future in self._futures[:]:
            if future.done():
                self._futures.remove(future)
                self._check(future)

    @staticmethod
    def _check(handler: Any) -> None:
        """Where the stock executor raises a callback's exception (ending the spin), report it; the
        context shutting down under a callback still ends the spin, as it does for the stock one."""
        error = handler.exception()
        if isinstance(error, ExternalShutdownException | ShutdownException):
            raise error
        if error is not None:
            report_callback_error(error)


class BackgroundSpinner:
    """Spins an executor in a daemon thread until ``stop()``, which then stops the executor cleanly."""

    def __init__(self, executor: Executor, poll: float = 0.05) -> None:
        self.executor = executor
        self._poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name="ros-spin", daemon=True)

    def _spin(self) -> None:
        while not self._stop.is_set() and self.executor.context.ok():
            try:
                self.executor.spin_once(timeout_sec=self._poll)
            except (ExternalShutdownException, ShutdownException):
                return
            except Exception as exc:  # a callback's bug must not silence every later callback
                report_callback_error(exc)

    def start(self) -> BackgroundSpinner:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        stop_executor(self.executor)


def wait_future_blocking(future: Future, timeout: float) -> Any | None:
    """Block the calling thread (not the executor's spin) until ``future`` is done; its result, or None."""
    if not future.done():
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            return None
    return future.result()
