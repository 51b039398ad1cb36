"""Any OpenAI-compatible chat-completions server (OpenAI, Ollama, vLLM, llama.cpp...) over plain HTTP."""

from __future__ import annotations

import base64
import os
import time
from typing import Any

import requests

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

DEFAULT_BASE_URL = "http://127.0.0.1:11434/v1"  # a local Ollama server


class OpenAICompatVLM:
    """POST {base_url}/chat/completions. The key (optional) comes from OPENAI_API_KEY; a missing
    model or base URL falls back to OPENAI_MODEL / OPENAI_BASE_URL, then to a local Ollama URL.
    ``model_parameter`` names the ROS parameter that sets ``model`` (for the error of an unknown model)."""

    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.2,
        max_image_side: int | None = 768,
        image_format: str = "jpeg",
        retries: int = 4,
        backoff_s: float = 1.0,
        timeout_s: float = 120,
        model_parameter: str = "model",
    ) -> None:
        model = model or os.environ.get("OPENAI_MODEL", "").strip()
        if not model:
            raise VLMConfigError(
                "No model for the OpenAI-compatible backend: pass model:=<name> (e.g. qwen2.5vl:7b for "
                "Ollama, gpt-4o for OpenAI) or `export OPENAI_MODEL=...`"
            )
        base_url = (base_url or os.environ.get("OPENAI_BASE_URL", "").strip() or DEFAULT_BASE_URL).rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise VLMConfigError(f"base_url must start with http:// or https://, got {base_url!r}")
        check_retry_options(retries, backoff_s, timeout_s)
        self.model = model
        self.model_parameter = model_parameter
        self.base_url = base_url
        self.temperature = float(temperature)
        self.max_image_side = max_image_side
        self.image_format = check_image_options(max_image_side, image_format)
        self.retries = retries
        self.backoff_s = float(backoff_s)
        self.timeout_s = float(timeout_s)
        self._key = (api_key or os.environ.get("OPENAI_API_KEY", "")).strip() or None
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"OpenAICompatVLM(model={self.model!r}, base_url={self.base_url!r})"

    def _message(self, message: Message) -> dict[str, Any]:
        role = "assistant" if message.role == "model" else "user"
        if all(isinstance(part, str) for part in message.parts):
            return {"role": role, "content": "\n\n".join(p for p in message.parts if isinstance(p, str))}
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, str):
                if part:
                    content.append({"type": "text", "text": part})
            else:
                data, mime = encode_image(part, self.max_image_side, self.image_format)
                url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
                content.append({"type": "image_url", "image_url": {"url": url}})
        return {"role": role, "content": content}

    def generate(self, request: VLMRequest) -> VLMReply:
        """One reply for ``request``; retries 408/429/5xx and connection failures with backoff.
        An unknown model (404 naming a model, or ``model_not_found``) raises VLMModelNotFoundError at once."""
        start = time.perf_counter()
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages += [self._message(message) for message in request.messages]
        body = {"model": self.model, "messages": messages, "temperature": self.temperature, "stream": False}
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        url = f"{self.base_url}/chat/completions"
        where = f"openai-compatible {self.model} at {self.base_url}"

        def attempt() -> dict[str, Any]:
            try:
                response = self._session.post(url, json=body, headers=headers, timeout=self.timeout_s)
            except (requests.ConnectionError, requests.Timeout) as exc:
                detail = f"connection failed: {describe_connection_error(exc)}"
                raise TransientError(redact(detail, self._key)) from None
            if response.status_code == 200:
                try:
                    return response.json()
                except ValueError:
                    raise VLMUnavailable(f"{where} answered 200 with a body that is not JSON") from None
            message, code = _server_error(response)
            detail = redact(f"HTTP {response.status_code}: {message}", self._key)
            if _is_model_not_found(response.status_code, message, code):
                hint = f"Ollama: `ollama list`; others: GET {self.base_url}/models"
                raise model_not_found(where, self.model, self.model_parameter, detail, hint)
            if is_retry_status(response.status_code):
                raise TransientError(detail, _retry_after(response))
            if response.status_code in (401, 403):
                raise VLMConfigError(f"{where} refused the request: {detail} (check OPENAI_API_KEY)")
            if response.status_code == 404:
                raise VLMConfigError(f"{where}: {detail}; check base_url (it usually ends in /v1)")
            cls = VLMConfigError if response.status_code == 400 else VLMUnavailable
            raise cls(f"{where} refused the request: {detail}")

        data = with_retries(attempt, retries=self.retries, backoff_s=self.backoff_s, what=where)
        text = _reply_text(data)
        if not text:
            raise VLMUnavailable(f"{where} returned no text: {redact(str(data)[:300], self._key)}")
        usage = data.get("usage") or {}
        return VLMReply(
            text=text,
            usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
            model=str(data.get("model") or self.model),
            seconds=time.perf_counter() - start,
        )


def _reply_text(data: dict[str, Any]) -> str:
    """choices[0].message.content as text (a string, or a list of text parts)."""
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return ""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else ""


def _server_error(response: requests.Response) -> tuple[str, str]:
    """The error body's message and code ("" when absent); the raw text when it is not JSON."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:500], str(error.get("code") or "")
    if isinstance(error, str):
        return error[:500], ""
    return (response.text or response.reason or "").strip()[:500], ""


def _is_model_not_found(status: int, message: str, code: str) -> bool:
    """OpenAI's ``model_not_found`` code, or a 404 whose message is about a model (Ollama, vLLM say
    'model "x" not found'); a 404 that does not mention a model is a wrong URL."""
    return code == "model_not_found" or (status == 404 and "model" in message.lower())


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
