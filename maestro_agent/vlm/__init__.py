"""The VLM layer: one protocol (``VLM.generate``) over Gemini, OpenAI-compatible servers and a
scripted fake, plus tolerant parsing of the replies. Make a backend with ``create_vlm(name, **options)``.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from maestro_agent.vlm.base import (
    VLM,
    Message,
    NoProgramError,
    Purpose,
    Usage,
    VLMConfigError,
    VLMError,
    VLMReply,
    VLMRequest,
    VLMRequestError,
    VLMUnavailable,
)
from maestro_agent.vlm.parsing import (
    Decision,
    Judgement,
    PlanReply,
    ReplyFormatError,
    extract_code,
    format_judgement,
    format_plan,
    parse_judgement,
    parse_plan,
)

# name -> (module, class); imported on use so that e.g. the scripted backend does not load google-genai.
BACKENDS: dict[str, tuple[str, str]] = {
    "gemini": ("maestro_agent.vlm.gemini", "GeminiVLM"),
    "openai": ("maestro_agent.vlm.openai_compat", "OpenAICompatVLM"),
    "scripted": ("maestro_agent.vlm.scripted", "ScriptedVLM"),
}


def backend_class(backend: str) -> type:
    """The class registered under ``backend``; VLMConfigError lists the valid names otherwise."""
    key = str(backend).strip().lower()
    if key not in BACKENDS:
        raise VLMConfigError(f"unknown VLM backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    module, name = BACKENDS[key]
    return getattr(importlib.import_module(module), name)


def create_vlm(backend: str, **options: Any) -> VLM:
    """A VLM backend by name ("gemini", "openai" or "scripted") with its constructor options."""
    cls = backend_class(backend)
    accepted = [name for name in inspect.signature(cls).parameters if name != "self"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise VLMConfigError(
            f"unknown option(s) {', '.join(unknown)} for VLM backend {backend!r}; "
            f"valid options: {', '.join(accepted)}"
        )
    return cls(**options)


__all__ = [
    "BACKENDS",
    "VLM",
    "Decision",
    "Judgement",
    "Message",
    "NoProgramError",
    "PlanReply",
    "Purpose",
    "ReplyFormatError",
    "Usage",
    "VLMConfigError",
    "VLMError",
    "VLMReply",
    "VLMRequest",
    "VLMRequestError",
    "VLMUnavailable",
    "backend_class",
    "create_vlm",
    "extract_code",
    "format_judgement",
    "format_plan",
    "parse_judgement",
    "parse_plan",
]
