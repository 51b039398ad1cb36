"""The node side of the VLM perception backends: parameters and the VLM client."""

from __future__ import annotations

from rclpy.node import Node

from maestro_tools.common.params import declare
from maestro_tools.perception.gemini_vision import VLMVision
from maestro_tools.vlm import DEFAULT_PERCEPTION_MODEL, create_vlm

MODEL_PARAMETER = "vlm_model"


def make_vision(node: Node) -> VLMVision:
    """A VLMVision configured by the node's ``vlm``, ``vlm_model`` and ``vlm_base_url`` parameters.

    A missing API key raises at start-up with the message saying how to set it (the node's entry point
    reports it): a perception node without its model cannot answer anything. A model the server does not
    know fails each request with VLMModelNotFoundError naming ``vlm_model``.
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
        node,
        MODEL_PARAMETER,
        "",
        f"Model; empty = {DEFAULT_PERCEPTION_MODEL} for vlm gemini, OPENAI_MODEL for vlm openai",
        read_only=True,
    )
    base_url = declare(
        node, "vlm_base_url", "", "VLM endpoint; empty = the backend's default", read_only=True
    )
    model = model or (DEFAULT_PERCEPTION_MODEL if backend == "gemini" else "")
    options = {"model_parameter": MODEL_PARAMETER}
    options |= {"model": model} if model else {}
    options |= {"base_url": base_url} if base_url else {}
    return VLMVision(create_vlm(backend, **options))
