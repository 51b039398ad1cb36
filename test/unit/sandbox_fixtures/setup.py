"""Stand-ins for the client proxy, injected into the sandbox namespace by ``make``."""

from __future__ import annotations

import codecs
import os
import pathlib
import signal
import time

import numpy as np

from maestro_agent.sandbox import channel


class Probe:
    """Trusted helpers the code can call (the real proxy plays this role)."""

    def env_names(self) -> list[str]:
        return sorted(os.environ)

    def line(self) -> int | None:
        return channel.current_line()

    def read(self, path: str) -> str:  # trusted code may open files
        with open(path) as f:
            return f.read()

    def fail(self) -> None:
        raise ValueError("the gripper is not calibrated")

    def show(self, label: str, h: int = 8, w: int = 12) -> None:
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[..., 0] = np.arange(w, dtype=np.uint8)[None, :] * 20
        rgb[..., 1] = np.arange(h, dtype=np.uint8)[:, None] * 30
        channel.emit_image(label, rgb)

    def event(self, kind: str, **payload: object) -> None:
        channel.emit_event(kind, **payload)

    def move(self, seconds: float) -> str:
        """A robot action: reports when it stops, whether it finished or was interrupted."""
        channel.emit_event("move_started", seconds=seconds)
        try:
            time.sleep(seconds)
            return "done"
        finally:
            channel.emit_event("move_stopped")

    def stuck(self, seconds: float) -> None:
        """Like a native call that ignores signals: the parent has to kill the process."""
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGPROF, signal.SIGUSR1})
        time.sleep(seconds)

    def segfault(self) -> None:
        os.kill(os.getpid(), signal.SIGSEGV)


def make(**kwargs: object) -> dict[str, object]:
    return {
        "probe": Probe(),
        "kwargs": dict(kwargs),
        # standard-library callables that open files: blocked when the submitted code calls them
        "read_text": pathlib.Path.read_text,
        "hosts": pathlib.Path("/etc/hosts"),
        "codecs_open": codecs.open,
    }


def broken() -> dict[str, object]:
    raise RuntimeError("setup exploded on purpose")


def not_a_dict() -> list[int]:
    return [1, 2]


def with_rclpy() -> dict[str, object]:
    """For start-up measurements: import rclpy and create a node, as the real proxy will."""
    import rclpy

    rclpy.init()
    return {"node": rclpy.create_node("sandbox_probe")}


def with_spinning_rclpy() -> dict[str, object]:
    """rclpy with an executor spinning in background threads, like the real proxy."""
    import threading

    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    rclpy.init()
    node = rclpy.create_node("sandbox_spin_probe")
    executor = MultiThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    return {"probe": Probe(), "node_name": node.get_name()}
