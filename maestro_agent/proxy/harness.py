"""The harness around the tools: recorded calls, retries with variation, validation and rendering.

``Harness(enabled=False)`` turns the proxy into the code-as-policies baseline: the same tools as
single attempts, no rendering, no feedback checks. Every call is recorded either way (a
``tool_call`` event through the sandbox channel), so both arms of an ablation are traced alike.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from maestro_agent.sandbox import channel
from maestro_tools.common.errors import InvalidArgumentError, MaestroError, OutOfLimitsError
from maestro_tools.robots.profile import RobotProfile, Workspace

F = TypeVar("F", bound=Callable[..., Any])
_depth = threading.local()


@dataclass(frozen=True)
class Harness:
    robot: RobotProfile  # whose workspace, cameras and joints the tools check against
    enabled: bool = True
    attempts: int = 3  # tries per robust call (the first plus retries with variation)
    render: bool = True  # draw perception and grasp results on the camera image for the VLM
    service_timeout_s: float = 20.0
    motion_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InvalidArgumentError(f"attempts must be >= 1, got {self.attempts}")

    @property
    def tries(self) -> int:
        return self.attempts if self.enabled else 1

    @property
    def renders(self) -> bool:
        return self.enabled and self.render

    def check_camera(self, camera: str) -> str:
        """``camera`` if the robot has it ("" = the robot's detection camera), else an error listing them."""
        return self.robot.camera(camera or self.robot.detection_camera).name

    def check_position(self, position: Any, what: str = "position") -> np.ndarray:
        return check_position(position, self.robot.workspace, what)


def _summary(args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    def short(value: Any) -> str:
        if isinstance(value, np.ndarray):
            value = np.round(value, 3).tolist() if value.size <= 16 else f"array{value.shape}"
        text = repr(value) if not isinstance(value, float) else f"{value:.3f}"
        return text if len(text) <= 60 else text[:57] + "..."

    parts = [short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def tool(category: str) -> Callable[[F], F]:
    """Record each call of a proxy method as a ``tool_call`` event (nested calls carry their depth)."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
            depth = getattr(_depth, "value", 0)
            _depth.value = depth + 1
            started, outcome = time.monotonic(), {"success": True, "error_code": 0, "message": ""}
            try:
                return method(self, *args, **kwargs)
            except MaestroError as exc:
                outcome = {"success": False, "error_code": int(exc.code), "message": str(exc)}
                raise
            except Exception as exc:
                outcome = {"success": False, "error_code": 13, "message": f"{type(exc).__name__}: {exc}"}
                raise
            except BaseException:  # cancelled or timed out by the sandbox
                outcome = {"success": False, "error_code": 10, "message": "interrupted"}
                raise
            finally:
                _depth.value = depth
                channel.emit_event(
                    "tool_call",
                    module=self.module,
                    function=method.__name__,
                    category=category,
                    arguments=_summary(args, kwargs),
                    duration=time.monotonic() - started,
                    line=channel.current_line() or 0,
                    depth=depth,
                    **outcome,
                )

        return recorded  # type: ignore[return-value]

    return wrap


def retry(
    attempts: int,
    step: Callable[[int], Any],
    retry_on: tuple[type[BaseException], ...] = (MaestroError,),
) -> Any:
    """Call ``step(attempt)`` until it returns; the attempt number lets it vary (camera, candidate...).

    The last error is raised with the earlier ones named in its message, so the VLM sees what was tried.
    """
    failures: list[str] = []
    for attempt in range(attempts):
        try:
            return step(attempt)
        except retry_on as exc:
            failures.append(f"attempt {attempt + 1}: {exc}")
            if attempt == attempts - 1:
                if len(failures) > 1:
                    exc.args = (f"{exc} (after {attempts} attempts: {'; '.join(failures[:-1])})",)
                raise
    raise AssertionError("unreachable")


def check_position(position: Any, workspace: Workspace, what: str = "position") -> np.ndarray:
    """A finite (3,) base-frame point inside the robot's workspace, or an error saying the valid box."""
    try:
        point = np.asarray(position, dtype=float).reshape(3)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{what} must be [x, y, z] in metres; got {position!r}") from None
    if not np.isfinite(point).all():
        raise InvalidArgumentError(f"{what} has NaN or infinite values: {point.tolist()}")
    if not workspace.contains(point):
        raise OutOfLimitsError(
            f"{what} {np.round(point, 3).tolist()} is outside the workspace {workspace.describe()} "
            "(base frame)"
        )
    return point


def show(label: str, image: np.ndarray) -> None:
    """Add an image to the observation the VLM judges after this substep."""
    channel.emit_image(label, image)
