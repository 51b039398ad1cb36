"""The sandbox child's end of the channel: frames to and from the parent, and tool calls.

Runs in the child only. The framing uses ``os.read``/``os.write`` on the raw descriptor and the
struct/json functions bound at import, so code that monkeypatches modules it can reach does not
change how messages are framed (and whatever it does, the parent checks every frame it reads).
While the main thread writes, an interrupt from a signal handler is deferred (``pending``) and raised
when the write is done, so a frame is never cut in half.
"""

from __future__ import annotations

import collections
import itertools
import os
import queue
import sys
import threading
import time
from typing import Any

from maestro_agent.sandbox import wire
from maestro_agent.sandbox.channel import SandboxCancelled, SandboxTimeout
from maestro_tools.common import errors

_write, _read = os.write, os.read
# Errors a tool may raise that are raised again, by the same class, in the code that called it.
_PLAIN_ERRORS: dict[str, type[BaseException]] = {
    cls.__name__: cls
    for cls in (ValueError, TypeError, KeyError, IndexError, RuntimeError, ZeroDivisionError, LookupError)
}
# Also in the code's namespace, so that it can catch them by name (`except StalledError:`).
MAESTRO_ERRORS: dict[str, type[BaseException]] = {
    name: cls
    for name, cls in vars(errors).items()
    if isinstance(cls, type) and issubclass(cls, errors.MaestroError)
}


class Link:
    def __init__(self, fd: int, types: dict[str, type]) -> None:
        self.fd = fd
        self.types = types
        self.encoder = wire.Encoder(types)
        self.lock = threading.Lock()
        self.main = threading.get_ident()
        self.armed = False  # user code is running: interrupts may be raised
        self.fired: str | None = None  # "cancelled" or "timeout" once an interrupt was delivered
        self.depth = 0
        self.pending: BaseException | None = None
        self.t0 = time.monotonic()
        self.filename: str | None = None  # the current submission's code filename
        self.line: int | None = None  # last traced line of the submitted code
        self.run_id = 0
        self.replies: queue.Queue[tuple[dict[str, Any], memoryview]] = queue.Queue()
        self._ids = itertools.count(1)
        self._reader = wire.FrameReader()
        self._pending: collections.deque[bytes] = collections.deque()

    # frames
    def read_frame(self) -> tuple[dict[str, Any], memoryview] | None:
        """The next frame from the parent (blocking); None at end of stream."""
        while not self._pending:
            data = _read(self.fd, 1 << 20)
            if not data:
                return None
            self._pending.extend(self._reader.feed(data))
        return wire.unpack(self._pending.popleft())

    def send(self, header: dict[str, Any], blobs: list[bytes] | None = None) -> None:
        data = memoryview(wire.pack(header, blobs))
        main = threading.get_ident() == self.main
        if main:
            self.depth += 1
        try:
            with self.lock:
                while data:
                    data = data[_write(self.fd, data) :]
        finally:
            if main:
                self.depth -= 1
                if self.depth == 0 and self.pending is not None:
                    exc, self.pending = self.pending, None
                    raise exc

    def elapsed(self) -> float:
        return round(time.monotonic() - self.t0, 4)

    # tool calls
    def call(self, tool: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run ``tool.method(*args, **kwargs)`` in the agent and return its result (or raise its error)."""
        if not self.armed:
            raise RuntimeError(f"{tool}.{method}() can only be called while submitted code runs")
        try:
            tree, blobs = self.encoder.encode({"args": list(args), "kwargs": kwargs})
        except wire.WireError as e:
            raise TypeError(f"{tool}.{method}(): {e}") from None
        call_id = next(self._ids)
        header = {"msg": "call", "id": call_id, "run": self.run_id, "tool": tool, "method": method}
        self.send({**header, "value": tree, "line": self.current_line()}, blobs)
        while True:
            reply, region = self.replies.get()  # a cancel or timeout signal interrupts the wait
            if reply.get("id") == call_id:
                break
        if reply.get("ok"):
            return wire.decode(reply.get("value"), region, self.types)
        raise _error(reply)

    def current_line(self) -> int | None:
        frame = sys._getframe(1)
        while frame is not None:  # the innermost frame of the current submission
            if frame.f_code.co_filename == self.filename:
                return frame.f_lineno
            frame = frame.f_back
        return self.line


def _error(reply: dict[str, Any]) -> BaseException:
    kind, message = str(reply.get("error_type", "")), str(reply.get("message", ""))
    if kind == "SandboxCancelled":
        return SandboxCancelled(message)
    if kind == "SandboxTimeout":
        return SandboxTimeout(message)
    cls = MAESTRO_ERRORS.get(kind) or _PLAIN_ERRORS.get(kind)
    if cls is None:
        return RuntimeError(f"{kind}: {message}" if kind else message)
    return cls(message)
