"""An rclpy ActionClient that is safe to send goals from any thread.

Jazzy's ``ActionClient`` sends a goal (or cancel, or result) request and only afterwards records the
request's sequence number. When the request is sent from a thread other than the one spinning the
client and the server answers quickly, the executor can take the response in between; it then drops
it ("Ignoring unexpected goal response") and the caller's future never completes. Every maestro
client sends from another thread (sandboxed agent code, test threads, a server's execute callback on
a multi-threaded executor), so each uses this class: sending and recording happen under one lock,
and handling a response first waits for any send still recording.
"""

from __future__ import annotations

import threading
from typing import Any

from rclpy.action import ActionClient
from rclpy.task import Future


class ThreadSafeActionClient(ActionClient):
    """``rclpy.action.ActionClient`` without the send/record race; same constructor and API."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._record_lock = threading.RLock()
        super().__init__(*args, **kwargs)

    def send_goal_async(self, goal: Any, feedback_callback: Any = None, goal_uuid: Any = None) -> Future:
        with self._record_lock:
            return super().send_goal_async(goal, feedback_callback=feedback_callback, goal_uuid=goal_uuid)

    def _cancel_goal_async(self, goal_handle: Any) -> Future:
        with self._record_lock:
            return super()._cancel_goal_async(goal_handle)

    def _get_result_async(self, goal_handle: Any) -> Future:
        with self._record_lock:
            return super()._get_result_async(goal_handle)

    async def execute(self, taken_data: Any) -> None:
        # A response can only exist once its request was sent, which happened under the lock; taking
        # the lock here therefore waits until that request's sequence number has been recorded.
        with self._record_lock:
            pass
        await super().execute(taken_data)
