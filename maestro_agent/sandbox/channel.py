"""What the tools use to report into the observation of the code that called them.

The tools run in the agent process, called over the sandbox channel by the stubs the sandboxed code
holds. While the sandbox serves a call it installs a ``CallContext`` for the serving thread: events
and images then go to that run, ``current_line`` is the line of the submitted code that made the
call, and ``check_interrupt`` raises ``SandboxCancelled``/``SandboxTimeout`` once the run is
cancelled or past its deadline (the ROS client's waits call it, so a robot action is cancelled on
the way out). Outside a call (unit tests of the tools) events and images collect in ``events`` and
``images``. The interrupts derive from BaseException so ``except Exception`` in a tool does not
swallow them and ``finally`` blocks still run.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_IMAGE_SIDE = 4096
RESERVED_KINDS = frozenset({"line", "image", "stdout"})


class SandboxCancelled(BaseException):
    """The agent cancelled the running code (raised inside it, or inside the tool it is calling)."""


class SandboxTimeout(BaseException):
    """The code ran past its wall-clock or CPU limit."""


@dataclass
class CallContext:
    """One tool call being served for the sandboxed code."""

    line: int | None  # the line of the submitted code that made the call
    deadline: float  # time.monotonic() past which the run is out of time
    on_event: Callable[[dict[str, Any]], None]
    on_image: Callable[[str, np.ndarray], None]
    t0: float = field(default_factory=time.monotonic)  # when the run started
    cancelled: threading.Event = field(default_factory=threading.Event)


# Collected outside a call (unit tests of the tools); clear() empties them.
events: list[dict[str, Any]] = []
images: list[tuple[str, np.ndarray]] = []
_t0 = time.monotonic()
_local = threading.local()


def clear() -> None:
    """Empty ``events`` and ``images`` and restart their clock (outside a call)."""
    global _t0
    events.clear()
    images.clear()
    _t0 = time.monotonic()


def current() -> CallContext | None:
    return getattr(_local, "context", None)


@contextlib.contextmanager
def serving(context: CallContext) -> Iterator[CallContext]:
    """Install ``context`` for this thread while a call is served."""
    saved = current()
    _local.context = context
    try:
        yield context
    finally:
        _local.context = saved


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
    context = current()
    t0 = _t0 if context is None else context.t0
    event = {"kind": kind, **record, "t": round(time.monotonic() - t0, 4)}
    if context is None:
        events.append(event)
    else:
        context.on_event(event)


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
    context = current()
    if context is None:
        images.append((label, rgb.copy()))
    else:
        context.on_image(label, rgb.copy())


def current_line() -> int | None:
    """The line of the submitted code that made the call being served (None outside a call)."""
    context = current()
    return None if context is None else context.line


def check_interrupt() -> None:
    """Raise SandboxCancelled or SandboxTimeout when the run being served was cancelled or ran out of time."""
    context = current()
    if context is None:
        return
    if context.cancelled.is_set():
        raise SandboxCancelled("the run was cancelled")
    if time.monotonic() > context.deadline:
        raise SandboxTimeout("the run exceeded its wall-clock limit while a tool was working")


def cancel_pending() -> bool:
    """Whether the run being served has a cancel pending (the actuation gate refuses motion then)."""
    context = current()
    return context is not None and context.cancelled.is_set()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, set | frozenset):
        return sorted(o, key=repr)
    raise TypeError(f"{type(o).__name__} is not JSON-serializable")
