"""An rclpy ActionClient that is safe to send goals from any thread.

Jazzy's ``ActionClient`` sends a goal (or cancel, or result) request and only afterwards records the
request's sequence number. When the request is sent from a thread other than the one spinning the
client and the server answers quickly, the executor can take the response in between; it then drops
it ("Ignoring unexpected goal response") and the caller's future never completes. Every maestro
client sends from another thread (sandboxed agent code, test threads, a server's execute callback on
a multi-threaded executor), so each uses this class: sending and recording happen under one lock,
and handling a response first waits for any send still recording.

The same executor hands a client's next batch of responses to another worker as soon as the previous
batch is taken, so two threads can handle two status messages at once: both find a finished goal and
both delete it, and the KeyError ends the executor's spin (every later response of every node in it is
lost). So responses are handled under the same lock; only a feedback callback runs outside it (it may
take time, and it cannot corrupt the client's books).
"""

from __future__ import annotations

import threading
from typing import Any

from rclpy.action import ActionClient
from rclpy.executors import await_or_execute
from rclpy.task import Future


class ThreadSafeActionClient(ActionClient):
    """``rclpy.action.ActionClient`` without the send/record race and with its books kept under one lock;
    same constructor and API."""

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

    # The cleanups rclpy runs as done callbacks (in any worker thread) check, then delete: under the lock.
    def _remove_pending_goal_request(self, future: Future) -> None:
        with self._record_lock:
            super()._remove_pending_goal_request(future)

    def _remove_pending_cancel_request(self, future: Future) -> None:
        with self._record_lock:
            super()._remove_pending_cancel_request(future)

    def _remove_pending_result_request(self, future: Future) -> None:
        with self._record_lock:
            super()._remove_pending_result_request(future)

    async def execute(self, taken_data: Any) -> None:
        # A response can only exist once its request was sent, which happened under the lock; taking
        # the lock here also waits until that request's sequence number has been recorded. Goal, cancel,
        # result and status handling never suspend (no await), so the lock is released by this thread.
        feedback = taken_data.pop("feedback", None)
        with self._record_lock:
            await super().execute(taken_data)
            goal = None if feedback is None else bytes(feedback.goal_id.uuid)
            callback = self._feedback_callbacks.get(goal) if goal is not None else None
        if callback is not None:
            await await_or_execute(callback, feedback)
