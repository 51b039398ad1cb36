"""Spinning executors in the background and stopping them without racing their callbacks."""

from __future__ import annotations

import threading
from typing import Any

from rclpy.executors import Executor
from rclpy.task import Future


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


class BackgroundSpinner:
    """Spins an executor in a daemon thread until ``stop()``, which then stops the executor cleanly."""

    def __init__(self, executor: Executor, poll: float = 0.05) -> None:
        self.executor = executor
        self._poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name="ros-spin", daemon=True)

    def _spin(self) -> None:
        while not self._stop.is_set() and self.executor.context.ok():
            self.executor.spin_once(timeout_sec=self._poll)

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
