"""The agent's VLM backends: the maestro_tools.vlm clients plus the scripted fake (a replayed program,
not a model), which speaks the agent's plan/react reply format and so lives in the agent package."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maestro_tools.vlm import BACKENDS, VLM
from maestro_tools.vlm import create_vlm as _create_vlm

AGENT_BACKENDS: Mapping[str, tuple[str, str]] = {
    **BACKENDS,
    "scripted": ("maestro_agent.scripted_vlm", "ScriptedVLM"),
}


def create_vlm(backend: str, **options: Any) -> VLM:
    """An agent VLM by name ("gemini", "openai" or "scripted") with its constructor options."""
    return _create_vlm(backend, AGENT_BACKENDS, **options)


__all__ = ["AGENT_BACKENDS", "create_vlm"]
