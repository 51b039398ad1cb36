"""Stand-in tools for the sandbox tests: they run in the test process, called by the sandboxed code."""

from __future__ import annotations

import os
import time

import numpy as np

from maestro_agent.proxy.types import GripperState
from maestro_agent.sandbox import ToolHost, channel
from maestro_tools.common.errors import GraspFailedError


class Probe:
    """Trusted helpers the code can call (the real tools play this role)."""

    HOME = np.array([0.5, 0.0, 0.3])

    def line(self) -> int | None:
        return channel.current_line()

    def pid(self) -> int:
        return os.getpid()

    def fail(self) -> None:
        raise ValueError("the gripper is not calibrated")

    def slip(self) -> None:
        raise GraspFailedError("the object slipped out of the fingers")

    def add(self, a: float, b: float = 1.0) -> float:
        return a + b

    def gripper(self, width: float) -> GripperState:
        return GripperState(width=width, fraction_closed=1 - width / 0.08, holding=0.001 < width < 0.079)

    def echo(self, value: object) -> object:
        return value

    def show(self, label: str, h: int = 8, w: int = 12) -> np.ndarray:
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[..., 0] = np.arange(w, dtype=np.uint8)[None, :] * 20
        rgb[..., 1] = np.arange(h, dtype=np.uint8)[:, None] * 30
        channel.emit_image(label, rgb)
        return rgb

    def event(self, kind: str, **payload: object) -> None:
        channel.emit_event(kind, **payload)

    def move(self, seconds: float) -> str:
        """A robot action: reports when it stops, whether it finished or was interrupted."""
        channel.emit_event("move_started", seconds=seconds)
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                channel.check_interrupt()
                time.sleep(0.01)
            return "done"
        finally:
            channel.emit_event("move_stopped")


def make_host() -> ToolHost:
    return ToolHost({"probe": Probe()}, {"GripperState": GripperState})
