"""Types shared by every VLM backend: requests, replies, errors, image encoding and the retry loop."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar, get_args

import cv2
import numpy as np

from maestro_tools.common.errors import (
    ErrorCode,
    InvalidArgumentError,
    MaestroError,
    NotFoundError,
    UnavailableError,
)

log = logging.getLogger(__name__)

Purpose = Literal["plan", "react", "reflect", "perceive"]  # perceive: boxes and points for perception nodes
Role = Literal["user", "model"]
T = TypeVar("T")

# Retried on: rate limits, request timeouts and server errors (plus connection failures).
RETRY_STATUS = frozenset({408, 429})
MAX_BACKOFF_S = 60.0


class VLMError(MaestroError):
    """Base of every error the VLM layer raises."""

    code = ErrorCode.BACKEND_ERROR


class VLMConfigError(VLMError, InvalidArgumentError):
    """Bad or missing configuration (no API key, unknown backend, option or model, invalid program file)."""

    code = ErrorCode.INVALID_ARGUMENT


class VLMRequestError(VLMError, InvalidArgumentError):
    """A malformed request (unknown role or purpose, an image that is not uint8 RGB)."""

    code = ErrorCode.INVALID_ARGUMENT


class VLMUnavailable(VLMError, UnavailableError):  # noqa: N818 (name fixed by the API)
    """The server could not be reached or kept failing after the retries."""

    code = ErrorCode.UNAVAILABLE


class VLMModelNotFoundError(VLMConfigError, NotFoundError):
    """The server does not know the configured model (HTTP 404 / NOT_FOUND, ``model_not_found``).

    A configuration error, never retried; over ROS it travels as INVALID_ARGUMENT, so a client does not
    mistake it for "the object was not found"."""

    code = ErrorCode.INVALID_ARGUMENT


def model_not_found(where: str, model: str, parameter: str, detail: str, hint: str) -> VLMModelNotFoundError:
    """The error for an unknown model: names the model, says it was not found, names the ROS parameter."""
    return VLMModelNotFoundError(
        f"{where}: model {model!r} was not found ({detail.rstrip('.')}). "
        f"Set the ROS parameter `{parameter}` to a model the server offers ({hint})"
    )


@dataclass(frozen=True)
class Message:
    """One turn of the conversation: text parts and RGB uint8 HxWx3 images, in order."""

    role: Role
    parts: tuple[str | np.ndarray, ...]

    def __post_init__(self) -> None:
        if self.role not in get_args(Role):
            raise VLMRequestError(f"message role {self.role!r} is not one of {', '.join(get_args(Role))}")
        if not isinstance(self.parts, tuple):  # accept lists (and a lone str) for convenience
            parts = (self.parts,) if isinstance(self.parts, str | np.ndarray) else tuple(self.parts)
            object.__setattr__(self, "parts", parts)
        for part in self.parts:
            if not isinstance(part, str | np.ndarray):
                raise VLMRequestError(f"message parts are str or numpy images, got {type(part).__name__}")

    @property
    def text(self) -> str:
        """The text parts joined by newlines (images left out)."""
        return "\n".join(part for part in self.parts if isinstance(part, str))


@dataclass(frozen=True)
class VLMRequest:
    system: str
    messages: tuple[Message, ...]
    purpose: Purpose
    instruction: str

    def __post_init__(self) -> None:
        if self.purpose not in get_args(Purpose):
            raise VLMRequestError(f"purpose {self.purpose!r} is not one of {', '.join(get_args(Purpose))}")
        if not isinstance(self.messages, tuple):
            object.__setattr__(self, "messages", tuple(self.messages))
        if not self.messages:
            raise VLMRequestError("a VLM request needs at least one message")

    def last_user_text(self) -> str:
        """The text parts of the last user message ("" if there is none)."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text
        return ""


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class VLMReply:
    text: str
    usage: Usage
    model: str
    seconds: float  # wall time of the call, retries included


class VLM(Protocol):
    name: str
    model: str

    def generate(self, request: VLMRequest) -> VLMReply: ...


# --- helpers for the HTTP backends -------------------------------------------------------------------


def check_image_options(max_image_side: int | None, image_format: str) -> str:
    """Validate the image options; returns the normalised format ("jpeg" or "png")."""
    if max_image_side is not None and (not isinstance(max_image_side, int) or max_image_side < 16):
        raise VLMConfigError(f"max_image_side must be an integer >= 16 or None, got {max_image_side!r}")
    fmt = str(image_format).lower().strip(".")
    fmt = "jpeg" if fmt == "jpg" else fmt
    if fmt not in ("jpeg", "png"):
        raise VLMConfigError(f"image_format must be 'jpeg' or 'png', got {image_format!r}")
    return fmt


def encode_image(image: np.ndarray, max_image_side: int | None, image_format: str) -> tuple[bytes, str]:
    """An RGB uint8 image downscaled so its longer side <= max_image_side, encoded; returns (bytes, mime)."""
    if image.dtype != np.uint8:
        raise VLMRequestError(f"images must be uint8 RGB, got dtype {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
        raise VLMRequestError(f"images must be HxWx3 RGB, got shape {image.shape}")
    height, width = image.shape[:2]
    if max_image_side and max(height, width) > max_image_side:
        scale = max_image_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2BGR)
    if image_format == "png":
        ok, data = cv2.imencode(".png", bgr)
    else:
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise VLMRequestError(f"could not encode a {image.shape} image as {image_format}")
    return data.tobytes(), f"image/{image_format}"


def describe_connection_error(exc: BaseException) -> str:
    """A one-line description of a connection failure ("ConnectError: [Errno 111] Connection refused")."""
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\][^\"')]*", text)
    return f"{type(exc).__name__}: {errno.group(0).strip() if errno else text[:200]}"


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ***."""
    return text.replace(secret, "***") if secret else text


class TransientError(Exception):
    """Raised by a backend's single attempt for a failure worth retrying (429, 5xx, connection)."""

    def __init__(self, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after_s = retry_after_s


def is_retry_status(status: int) -> bool:
    return status in RETRY_STATUS or 500 <= status <= 599


def with_retries(attempt: Callable[[], T], *, retries: int, backoff_s: float, what: str) -> T:
    """Call ``attempt`` until it returns; TransientError is retried ``retries`` times with exponential
    backoff (x2 per try, +0-10 % jitter, at least the server's Retry-After), then VLMUnavailable."""
    failures: list[str] = []
    for index in range(retries + 1):
        try:
            return attempt()
        except TransientError as failure:
            failures.append(failure.detail)
            if index == retries:
                break
            delay = min(MAX_BACKOFF_S, backoff_s * 2**index) * (1.0 + 0.1 * random.random())
            if failure.retry_after_s is not None:
                delay = max(delay, min(MAX_BACKOFF_S, failure.retry_after_s))
            log.warning("%s: %s; retry %d/%d in %.2f s", what, failure.detail, index + 1, retries, delay)
            time.sleep(delay)
    tried = "; ".join(f"attempt {i + 1}: {detail}" for i, detail in enumerate(failures))
    raise VLMUnavailable(f"{what} failed after {len(failures)} attempt(s) ({tried})")


def check_retry_options(retries: int, backoff_s: float, timeout_s: float) -> None:
    if not isinstance(retries, int) or retries < 0:
        raise VLMConfigError(f"retries must be an integer >= 0, got {retries!r}")
    if backoff_s < 0 or timeout_s <= 0:
        raise VLMConfigError(f"backoff_s must be >= 0 and timeout_s > 0, got {backoff_s!r}, {timeout_s!r}")
