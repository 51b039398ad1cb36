"""Checks of request fields where they enter a node: numbers, strings, lists and poses.

Each check returns the value or raises a typed error whose message names the field, the value and the
valid range. NaN, infinity, malformed and over-long values are ``InvalidArgumentError``; a number
outside its range too, unless the caller passes ``error=OutOfLimitsError`` for a physical limit
(joint positions, velocity scaling, the gripper's opening). Over-long strings are quoted by a prefix.

``answer_errors`` wraps a service callback so that no request can kill the node: a MaestroError
becomes its (code, message) and anything else BACKEND_ERROR, its traceback logged. No ROS imports:
messages are read by attribute.
"""

from __future__ import annotations

import functools
import math
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from maestro_tools.common.errors import BackendError, InvalidArgumentError, MaestroError

QUOTE_LIMIT = 80  # characters of an over-long string quoted back in a message
NAME_LIMIT = 128  # camera names, frame ids, joint names
LABEL_LIMIT = 200  # object labels
TEXT_LIMIT = 1000  # free descriptions ("the handle of the mug on the left")

R = TypeVar("R")


def quote(value: str, limit: int = QUOTE_LIMIT) -> str:
    """``repr`` of ``value``, cut to ``limit`` characters (with the full length) when longer."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def _interval(low: float | None, high: float | None, unit: str) -> str:
    if low is None and high is None:
        return "any finite number"
    if high is None:
        return f">= {low:g}{unit}"
    if low is None:
        return f"<= {high:g}{unit}"
    return f"[{low:g}, {high:g}]{unit}"


def number(
    field: str,
    value: float,
    low: float | None = None,
    high: float | None = None,
    *,
    unit: str = "",
    note: str = "",
    error: type[MaestroError] = InvalidArgumentError,
) -> float:
    """``value`` as a float if finite and within [low, high]; ``note`` explains special values."""
    value = float(value)
    valid = _interval(low, high, unit) + (f" ({note})" if note else "")
    if not math.isfinite(value):
        raise InvalidArgumentError(f"{field} is {value}: it must be a finite number; valid: {valid}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise error(f"{field} = {value:g}{unit} is out of range; valid: {valid}")
    return value


def numbers(field: str, values: Sequence[float]) -> list[float]:
    """All of ``values`` as floats, each finite; the first bad one is named by its index."""
    result = [float(v) for v in values]
    for index, value in enumerate(result):
        if not math.isfinite(value):
            raise InvalidArgumentError(f"{field}[{index}] is {value}: it must be a finite number")
    return result


def count(field: str, value: int, high: int, *, note: str = "") -> int:
    """An unsigned count in [0, high] (uint fields cannot be negative or NaN)."""
    value = int(value)
    if not 0 <= value <= high:
        extra = f" ({note})" if note else ""
        raise InvalidArgumentError(f"{field} = {value} is out of range; valid: [0, {high}]{extra}")
    return value


def text(field: str, value: str, limit: int, *, required: bool = False, example: str = "") -> str:
    """A string of at most ``limit`` characters; ``required``: not empty or blank."""
    if len(value) > limit:
        raise InvalidArgumentError(f"{field} {quote(value)} is too long; valid: at most {limit} characters")
    if required and not value.strip():
        hint = f", e.g. {example!r}" if example else ""
        raise InvalidArgumentError(f"{field} is empty; give a non-empty string{hint}")
    return value


def texts(field: str, values: Sequence[str], limit: int, max_items: int, *, example: str = "") -> list[str]:
    """A list of at most ``max_items`` non-blank strings of at most ``limit`` characters each."""
    if len(values) > max_items:
        raise InvalidArgumentError(f"{field} has {len(values)} entries; valid: at most {max_items}")
    return [text(f"{field}[{k}]", v, limit, required=True, example=example) for k, v in enumerate(values)]


def items(field: str, values: Sequence[Any], max_items: int) -> Sequence[Any]:
    """A list of at most ``max_items`` entries."""
    if len(values) > max_items:
        raise InvalidArgumentError(f"{field} has {len(values)} entries; valid: at most {max_items}")
    return values


def pose(field: str, message: Any, *, orientation: bool = True) -> None:
    """A geometry_msgs/Pose: finite position and quaternion, the quaternion of norm 1 (within 10 %)."""
    p, q = message.position, message.orientation
    for name, value in (("x", p.x), ("y", p.y), ("z", p.z)):
        number(f"{field}.position.{name}", value)
    for name, value in (("x", q.x), ("y", q.y), ("z", q.z), ("w", q.w)):
        number(f"{field}.orientation.{name}", value)
    norm = math.sqrt(q.x**2 + q.y**2 + q.z**2 + q.w**2)
    if orientation and not 0.9 <= norm <= 1.1:
        raise InvalidArgumentError(
            f"{field}.orientation ({q.x:g}, {q.y:g}, {q.z:g}, {q.w:g}) has norm {norm:.3g}; "
            "valid: a unit quaternion (x, y, z, w), e.g. (0, 0, 0, 1)"
        )


def vector(
    field: str, message: Any, low: float | None = None, high: float | None = None, unit: str = ""
) -> None:
    """A geometry_msgs/Vector3 or Point: each component finite and within [low, high]."""
    for name in ("x", "y", "z"):
        number(f"{field}.{name}", getattr(message, name), low, high, unit=unit)


def frame(field: str, value: str, base_frame: str) -> str:
    """A frame id that must be empty (meaning ``base_frame``) or ``base_frame`` itself."""
    text(field, value, NAME_LIMIT)
    if value.lstrip("/") not in ("", base_frame):
        raise InvalidArgumentError(
            f"{field} is {quote(value)}; valid: {base_frame!r} (the robot's base frame) or empty"
        )
    return base_frame


def refuse(response: R, exc: MaestroError) -> R:
    """``response`` filled as the answer to a failed request (success false, the error's code)."""
    response.success, response.error_code, response.message = False, int(exc.code), str(exc)  # type: ignore[attr-defined]
    return response


def unexpected(node: Any, exc: BaseException, what: str) -> BackendError:
    """A BackendError for an exception no check anticipated, its traceback in the node's log."""
    node.get_logger().error(f"{what} failed:\n{''.join(traceback.format_exception(exc))}")
    detail = str(exc)
    detail = detail if len(detail) <= 200 else detail[:200] + "..."
    return BackendError(f"{what} failed with {type(exc).__name__}: {detail} (a node bug; see its log)")


def answer_errors(handler: Callable[[Any, Any, R], R]) -> Callable[[Any, Any, R], R]:
    """Decorate a node's service callback ``(self, request, response)``: errors become the response."""

    @functools.wraps(handler)
    def wrapper(node: Any, request: Any, response: R) -> R:
        try:
            return handler(node, request, response)
        except MaestroError as exc:
            return refuse(response, exc)
        except Exception as exc:  # a bad request must never kill the node
            return refuse(type(response)(), unexpected(node, exc, handler.__name__))

    return wrapper
