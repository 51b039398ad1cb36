"""Gemini through the google-genai SDK (the default VLM backend)."""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from maestro_tools.vlm.base import (
    Message,
    TransientError,
    Usage,
    VLMConfigError,
    VLMReply,
    VLMRequest,
    VLMUnavailable,
    check_image_options,
    check_retry_options,
    describe_connection_error,
    encode_image,
    is_retry_status,
    model_not_found,
    redact,
    with_retries,
)
from maestro_tools.vlm.defaults import DEFAULT_AGENT_MODEL, DEFAULT_PERCEPTION_MODEL, GEMINI_MODELS_URL

log = logging.getLogger(__name__)

KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
MODELS_HINT = (  # for the error of an unknown model
    f"maestro's defaults: {DEFAULT_AGENT_MODEL} for the agent, {DEFAULT_PERCEPTION_MODEL} for perception; "
    f"current Gemini models: {GEMINI_MODELS_URL}"
)


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection-level exception classes of whichever HTTP stack the SDK uses (httpx or httpx2)."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module_name in ("httpx", "httpx2"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        found.append(module.TransportError)
    return tuple(found)


_TRANSPORT_ERRORS = _transport_errors()


class GeminiVLM:
    """A Gemini model over the Gemini API (v1beta). The key comes from GEMINI_API_KEY or GOOGLE_API_KEY.

    ``model_parameter`` names the ROS parameter that sets ``model`` (for the error of an unknown model).
    """

    name = "gemini"

    def __init__(
        self,
        model: str = DEFAULT_AGENT_MODEL,
        api_key: str | None = None,
        base_url: str | None = None,
        temperature: float = 0.2,
        max_image_side: int | None = 768,
        image_format: str = "jpeg",
        retries: int = 4,
        backoff_s: float = 1.0,
        timeout_s: float = 120,
        thinking_budget: int | None = None,
        model_parameter: str = "model",
    ) -> None:
        key = (api_key or "").strip() or next(
            (os.environ[v].strip() for v in KEY_VARIABLES if os.environ.get(v, "").strip()), ""
        )
        if not key:
            raise VLMConfigError(
                "No Gemini API key: `export GEMINI_API_KEY=...` (GOOGLE_API_KEY also works), "
                "or choose another backend: vlm:=openai (an OpenAI-compatible server such as a local "
                "Ollama) or vlm:=scripted (scripted offline programs, no model)"
            )
        if not model or not isinstance(model, str):
            raise VLMConfigError(
                f"model must be a Gemini model name such as {DEFAULT_AGENT_MODEL}, got {model!r}"
            )
        check_retry_options(retries, backoff_s, timeout_s)
        self.model = model
        self.model_parameter = model_parameter
        self.base_url = base_url
        self.temperature = float(temperature)
        self.max_image_side = max_image_side
        self.image_format = check_image_options(max_image_side, image_format)
        self.retries = retries
        self.backoff_s = float(backoff_s)
        self.thinking_budget = thinking_budget
        self._key = key
        http_options = types.HttpOptions(
            base_url=base_url,
            api_version="v1beta",
            timeout=int(timeout_s * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),  # retries are ours, so the count is exact
        )
        self._client = genai.Client(api_key=key, vertexai=False, http_options=http_options)

    def __repr__(self) -> str:
        return f"GeminiVLM(model={self.model!r}, base_url={self.base_url!r})"

    def _contents(self, messages: tuple[Message, ...]) -> list[types.Content]:
        contents: list[types.Content] = []
        for message in messages:
            parts: list[types.Part] = []
            for part in message.parts:
                if isinstance(part, str):
                    if part:
                        parts.append(types.Part.from_text(text=part))
                else:
                    data, mime = encode_image(part, self.max_image_side, self.image_format)
                    parts.append(types.Part.from_bytes(data=data, mime_type=mime))
            if parts:
                contents.append(types.Content(role=message.role, parts=parts))
        return contents

    def generate(self, request: VLMRequest) -> VLMReply:
        """One reply for ``request``; retries 408/429/5xx and connection failures with backoff.
        An unknown model (404 NOT_FOUND) raises VLMModelNotFoundError at once."""
        start = time.perf_counter()
        config = types.GenerateContentConfig(
            system_instruction=request.system or None,
            temperature=self.temperature,
            thinking_config=(
                types.ThinkingConfig(thinking_budget=self.thinking_budget)
                if self.thinking_budget is not None
                else None
            ),
        )
        contents = self._contents(request.messages)
        where = f"gemini {self.model}" + (f" at {self.base_url}" if self.base_url else "")

        def attempt() -> Any:
            try:
                return self._client.models.generate_content(
                    model=self.model, contents=contents, config=config
                )
            except genai_errors.APIError as exc:
                detail = redact(f"HTTP {exc.code} {exc.status or ''}: {exc.message or exc}", self._key)
                if is_retry_status(exc.code):
                    raise TransientError(detail, _retry_delay(exc)) from None
                if exc.code == 404 or exc.status == "NOT_FOUND":
                    raise model_not_found(
                        where, self.model, self.model_parameter, detail, MODELS_HINT
                    ) from None
                cls = VLMConfigError if exc.code in (400, 401, 403) else VLMUnavailable
                raise cls(f"{where} refused the request: {detail}") from None
            except _TRANSPORT_ERRORS as exc:
                raise TransientError(
                    redact(f"connection failed: {describe_connection_error(exc)}", self._key)
                ) from None

        response = with_retries(attempt, retries=self.retries, backoff_s=self.backoff_s, what=where)
        text = _reply_text(response)
        if not text:
            raise VLMUnavailable(f"{where} returned no text ({_why_empty(response)})")
        meta = response.usage_metadata or types.GenerateContentResponseUsageMetadata()
        usage = Usage(  # thinking tokens are billed as output
            input_tokens=meta.prompt_token_count or 0,
            output_tokens=(meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0),
        )
        model = response.model_version or self.model
        return VLMReply(text=text, usage=usage, model=model, seconds=time.perf_counter() - start)


def _reply_text(response: Any) -> str:
    """The text parts of the first candidate, thoughts left out."""
    if not response.candidates or not response.candidates[0].content:
        return ""
    parts = response.candidates[0].content.parts or []
    return "".join(part.text for part in parts if part.text and not part.thought)


def _why_empty(response: Any) -> str:
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        return f"prompt blocked: {feedback.block_reason}"
    if response.candidates:
        return f"finish reason {response.candidates[0].finish_reason}"
    return "no candidates"


def _retry_delay(exc: genai_errors.APIError) -> float | None:
    """The server's suggested delay: a RetryInfo detail ("13s") or a Retry-After header."""
    details = exc.details.get("error", {}).get("details", []) if isinstance(exc.details, dict) else []
    for detail in details if isinstance(details, list) else []:
        match = (
            re.fullmatch(r"([\d.]+)s", str(detail.get("retryDelay", "")))
            if isinstance(detail, dict)
            else None
        )
        if match:
            return float(match.group(1))
    headers = getattr(exc.response, "headers", None) or {}
    try:
        return float(headers.get("retry-after"))
    except (TypeError, ValueError):
        return None
