"""An action server whose newest goal preempts the running one (nav2's and the controllers' convention).

Every goal and every cancel is accepted; ``superseded(handle)`` tells a running goal that a newer one came,
so it stops what it drives and ends (the node's own choice of result: aborted, PREEMPTED).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node


class PreemptingActionServer:
    def __init__(
        self,
        node: Node,
        action_type: Any,
        name: str,
        execute: Callable[[ServerGoalHandle], Any],
        group: CallbackGroup,
    ) -> None:
        self._lock = threading.Lock()
        self._newest: ServerGoalHandle | None = None
        self.server = ActionServer(
            node,
            action_type,
            name,
            execute_callback=execute,
            goal_callback=lambda _: GoalResponse.ACCEPT,
            handle_accepted_callback=self._accepted,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=group,
        )

    def _accepted(self, handle: ServerGoalHandle) -> None:
        with self._lock:
            self._newest = handle
        handle.execute()

    def superseded(self, handle: ServerGoalHandle) -> bool:
        """Whether a newer goal than ``handle`` was accepted."""
        return self._newest is not handle
