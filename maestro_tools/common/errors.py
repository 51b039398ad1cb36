"""One error tree for all of Maestro. Messages name the valid alternatives or what to try next.

Each class carries the ``maestro_msgs/ErrorCode`` value that nodes put in their responses, so an
error raised by a backend crosses ROS as (code, message) and is raised again as the same class
on the client side. This module has no ROS imports: backends and the agent use it as plain Python.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """Mirror of the constants in maestro_msgs/msg/ErrorCode.msg (a test keeps them equal)."""

    OK = 0
    INVALID_ARGUMENT = 1
    NOT_FOUND = 2
    OUT_OF_LIMITS = 3
    UNREACHABLE = 4
    COLLISION = 5
    NO_DATA = 6
    TIMEOUT = 7
    STALLED = 8
    GRASP_FAILED = 9
    CANCELED = 10
    PREEMPTED = 11
    BUSY = 12
    BACKEND_ERROR = 13
    UNAVAILABLE = 14


class MaestroError(Exception):
    """Base of every error Maestro raises on purpose."""

    code: ErrorCode = ErrorCode.BACKEND_ERROR


class InvalidArgumentError(MaestroError, ValueError):
    code = ErrorCode.INVALID_ARGUMENT


class NotFoundError(MaestroError, LookupError):
    code = ErrorCode.NOT_FOUND


class OutOfLimitsError(MaestroError, ValueError):
    code = ErrorCode.OUT_OF_LIMITS


class UnreachableError(MaestroError):
    code = ErrorCode.UNREACHABLE


class CollisionError(MaestroError):
    code = ErrorCode.COLLISION


class NoDataError(MaestroError):
    code = ErrorCode.NO_DATA


class MaestroTimeoutError(MaestroError, TimeoutError):
    code = ErrorCode.TIMEOUT


class StalledError(MaestroError):
    code = ErrorCode.STALLED


class GraspFailedError(MaestroError):
    code = ErrorCode.GRASP_FAILED


class ObjectDroppedError(GraspFailedError):
    """What the gripper held fell out: its fingers closed fully during a move. GRASP_FAILED on the wire
    ("closed on nothing or lost the object"), so a retry that catches a failed grasp catches this too."""


class CanceledError(MaestroError):
    code = ErrorCode.CANCELED


class PreemptedError(MaestroError):
    code = ErrorCode.PREEMPTED


class BusyError(MaestroError):
    code = ErrorCode.BUSY


class BackendError(MaestroError):
    code = ErrorCode.BACKEND_ERROR


class UnavailableError(MaestroError):
    code = ErrorCode.UNAVAILABLE


class SpecError(InvalidArgumentError):
    """A bringup spec or launch argument is malformed; the message names the file and line."""


_BY_CODE: dict[ErrorCode, type[MaestroError]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        OutOfLimitsError,
        UnreachableError,
        CollisionError,
        NoDataError,
        MaestroTimeoutError,
        StalledError,
        GraspFailedError,
        CanceledError,
        PreemptedError,
        BusyError,
        BackendError,
        UnavailableError,
    )
}


def error_from_code(code: int, message: str) -> MaestroError:
    """The typed error for a response's (error_code, message); unknown codes become BackendError."""
    try:
        cls = _BY_CODE[ErrorCode(code)]
    except (ValueError, KeyError):
        return BackendError(f"{message} (unknown error code {code})")
    return cls(message)
