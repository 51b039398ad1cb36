"""What code running in the sandbox (the client proxy) uses to report back to the agent.

Inside a sandbox child the worker installs a link and events/images travel to the parent as JSON
lines; anywhere else the same calls collect into ``events`` and ``images`` so the proxy can be unit
tested without a sandbox. ``SandboxCancelled``/``SandboxTimeout`` are raised inside the running code;
they derive from BaseException so ``except Exception`` in the proxy does not swallow them, and
``finally`` blocks (which cancel robot actions) still run.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import sys
import threading
import time
import zlib
from typing import Any

import numpy as np

MAX_IMAGE_SIDE = 4096
MAX_IMAGES_PER_RUN = 64
RESERVED_KINDS = frozenset({"line", "image"})
USER_FILENAME_PREFIX = "<substep"


class SandboxCancelled(BaseException):
    """The agent cancelled the running code (raised inside it)."""


class SandboxTimeout(BaseException):
    """The code ran past its wall-clock or CPU limit (raised inside it)."""


# Collected outside a sandbox (unit tests of the proxy); clear() empties them.
events: list[dict[str, Any]] = []
images: list[tuple[str, np.ndarray]] = []
_t0 = time.monotonic()


def clear() -> None:
    """Empty ``events`` and ``images`` and restart their clock (outside a sandbox)."""
    global _t0
    events.clear()
    images.clear()
    _t0 = time.monotonic()


class Link:
    """The child's end of the pipe to the parent, plus the state of the running code.

    Writes are atomic lines. While the main thread writes, an interrupt from a signal handler is
    deferred (``pending``) and raised when the write is done, so a line is never cut in half.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.main = threading.get_ident()
        self.armed = False  # user code is running: interrupts may be raised
        self.fired: str | None = None  # "cancelled" or "timeout" once an interrupt was delivered
        self.depth = 0
        self.pending: BaseException | None = None
        self.t0 = time.monotonic()
        self.filename: str | None = None  # the current submission's code filename
        self.line: int | None = None  # last traced line of the submitted code
        self.images_sent = 0
        self.images_dropped = 0

    def send(self, msg: dict[str, Any]) -> None:
        data = (json.dumps(msg, separators=(",", ":"), default=_json_default) + "\n").encode()
        main = threading.get_ident() == self.main
        if main:
            self.depth += 1
        try:
            with self.lock:
                self.sock.sendall(data)
        finally:
            if main:
                self.depth -= 1
                if self.depth == 0 and self.pending is not None:
                    exc, self.pending = self.pending, None
                    raise exc

    def elapsed(self) -> float:
        return round(time.monotonic() - self.t0, 4)


_link: Link | None = None


def emit_event(kind: str, **payload: Any) -> None:
    """Report a JSON-able event (numpy scalars and arrays are converted); it gets "t" = seconds
    since the run started."""
    if not isinstance(kind, str) or not kind or kind in RESERVED_KINDS:
        raise ValueError(
            f"event kind must be a non-empty string other than {sorted(RESERVED_KINDS)}, got {kind!r}"
        )
    if "t" in payload or "kind" in payload:
        raise ValueError("event payload keys 'kind' and 't' are set by emit_event; use other names")
    try:  # validate now, in the caller's frame, and take a copy
        record = json.loads(json.dumps(payload, default=_json_default))
    except (TypeError, ValueError) as e:
        raise TypeError(f"emit_event({kind!r}): payload must be JSON-able: {e}") from None
    link = _link
    if link is None:
        events.append({"kind": kind, **record, "t": round(time.monotonic() - _t0, 4)})
    else:
        link.send({"msg": "event", "data": {"kind": kind, **record, "t": link.elapsed()}})


def emit_image(label: str, rgb: np.ndarray) -> None:
    """Report an RGB uint8 image (H x W x 3, sides up to MAX_IMAGE_SIDE) shown to the agent."""
    if not isinstance(label, str) or not label:
        raise ValueError(f"image label must be a non-empty string, got {label!r}")
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"emit_image({label!r}) needs an RGB uint8 array of shape (H, W, 3), got {got}")
    if not (0 < rgb.shape[0] <= MAX_IMAGE_SIDE and 0 < rgb.shape[1] <= MAX_IMAGE_SIDE):
        raise ValueError(
            f"emit_image({label!r}): sides must be 1..{MAX_IMAGE_SIDE} pixels, got {rgb.shape[:2]}"
        )
    link = _link
    if link is None:
        images.append((label, rgb.copy()))
        return
    if link.images_sent >= MAX_IMAGES_PER_RUN:
        link.images_dropped += 1
        return
    link.images_sent += 1
    png = base64.b64encode(encode_png(rgb)).decode("ascii")
    link.send({"msg": "image", "label": label, "png": png, "t": link.elapsed()})


def current_line() -> int | None:
    """The line of the submitted code now executing (None outside a running sandbox)."""
    link = _link
    if link is None or link.filename is None or not link.armed:
        return None
    frame = sys._getframe(1)
    while frame is not None:  # the innermost frame of the current submission
        if frame.f_code.co_filename == link.filename:
            return frame.f_lineno
        frame = frame.f_back
    return link.line  # called from another thread: the last traced line


def encode_png(rgb: np.ndarray) -> bytes:
    """A minimal 8-bit RGB PNG (filter 0 on every row); decode_png reads exactly this."""
    h, w, _ = rgb.shape
    rows = np.zeros((h, w * 3 + 1), np.uint8)
    rows[:, 1:] = np.ascontiguousarray(rgb).reshape(h, w * 3)

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 3))
        + chunk(b"IEND", b"")
    )


def decode_png(data: bytes) -> np.ndarray:
    """Decode (in the parent) the base64 PNG that encode_png writes; strict and bounded."""
    raw = base64.b64decode(data, validate=True)
    if not raw.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("not a PNG")
    pos, header, idat = 8, None, []
    while pos + 8 <= len(raw):
        length, tag = struct.unpack(">I4s", raw[pos : pos + 8])
        body = raw[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if tag == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat.append(body)
        elif tag == b"IEND":
            break
    if header is None or header[2:] != (8, 2, 0, 0, 0):
        raise ValueError("only 8-bit RGB PNGs without interlace are accepted")
    w, h = header[0], header[1]
    if not (0 < w <= MAX_IMAGE_SIDE and 0 < h <= MAX_IMAGE_SIDE):
        raise ValueError(f"image size {w}x{h} out of bounds")
    size = h * (w * 3 + 1)
    pixels = zlib.decompressobj().decompress(b"".join(idat), size)
    if len(pixels) != size:
        raise ValueError("truncated image data")
    rows = np.frombuffer(pixels, np.uint8).reshape(h, w * 3 + 1)
    if rows[:, 0].any():
        raise ValueError("unsupported PNG row filter")
    return rows[:, 1:].reshape(h, w, 3).copy()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, set | frozenset):
        return sorted(o, key=repr)
    raise TypeError(f"{type(o).__name__} is not JSON-serializable")
