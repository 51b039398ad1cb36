"""Polling with a deadline, for tests that wait on other processes (no ROS needed)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, period: float = 0.02) -> bool:
    """True as soon as ``predicate()`` is, False if it is still false after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period)
    return False
