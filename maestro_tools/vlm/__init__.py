"""The VLM layer, shared by the agent and the perception nodes: one protocol (``VLM.generate``) over
Gemini and OpenAI-compatible servers, retries, image encoding and lenient JSON reading (``markdown``).
Make a client with ``create_vlm(name, **options)``; default models are in ``defaults``.

The agent adds its scripted fake to the registry (``maestro_agent.vlm_backends``): it replays the
agent's plan/react replies, so it lives with the agent's reply format, not here.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from maestro_tools.vlm.base import (
    VLM,
    Message,
    Purpose,
    Usage,
    VLMConfigError,
    VLMError,
    VLMModelNotFoundError,
    VLMReply,
    VLMRequest,
    VLMRequestError,
    VLMUnavailable,
)
from maestro_tools.vlm.defaults import DEFAULT_AGENT_MODEL, DEFAULT_PERCEPTION_MODEL

# name -> (module, class); imported on use so that choosing one backend does not load the others' SDKs.
BACKENDS: Mapping[str, tuple[str, str]] = {
    "gemini": ("maestro_tools.vlm.gemini", "GeminiVLM"),
    "openai": ("maestro_tools.vlm.openai_compat", "OpenAICompatVLM"),
}


def backend_class(backend: str, backends: Mapping[str, tuple[str, str]] = BACKENDS) -> type:
    """The class registered under ``backend``; VLMConfigError lists the valid names otherwise."""
    key = str(backend).strip().lower()
    if key not in backends:
        raise VLMConfigError(f"unknown VLM backend {backend!r}; valid backends: {', '.join(backends)}")
    module, name = backends[key]
    return getattr(importlib.import_module(module), name)


def create_vlm(backend: str, backends: Mapping[str, tuple[str, str]] = BACKENDS, **options: Any) -> VLM:
    """A VLM client by name ("gemini" or "openai"; ``backends`` for another registry) with its
    constructor options; unknown options raise VLMConfigError listing the valid ones."""
    cls = backend_class(backend, backends)
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
    "DEFAULT_AGENT_MODEL",
    "DEFAULT_PERCEPTION_MODEL",
    "VLM",
    "Message",
    "Purpose",
    "Usage",
    "VLMConfigError",
    "VLMError",
    "VLMModelNotFoundError",
    "VLMReply",
    "VLMRequest",
    "VLMRequestError",
    "VLMUnavailable",
    "backend_class",
    "create_vlm",
]
