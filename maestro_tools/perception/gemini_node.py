"""The node side of the VLM perception backends: parameters and the VLM client."""

from __future__ import annotations

from rclpy.node import Node

from maestro_agent.vlm import create_vlm
from maestro_tools.common.params import declare
from maestro_tools.perception.gemini_vision import VLMVision


def make_vision(node: Node) -> VLMVision:
    """A VLMVision configured by the node's ``vlm``, ``vlm_model`` and ``vlm_base_url`` parameters.

    A missing API key raises at start-up with the message saying how to set it (the node's entry point
    reports it): a perception node without its model cannot answer anything.
    """
    backend = declare(
        node,
        "vlm",
        "gemini",
        "VLM for the gemini backend: gemini or openai",
        choices=("gemini", "openai"),
        read_only=True,
    )
    model = declare(
        node, "vlm_model", "gemini-robotics-er-1.5-preview", "Model of the gemini backend", read_only=True
    )
    base_url = declare(
        node, "vlm_base_url", "", "VLM endpoint; empty = the backend's default", read_only=True
    )
    options = {"model": model, **({"base_url": base_url} if base_url else {})}
    return VLMVision(create_vlm(backend, **options))
