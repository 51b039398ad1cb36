"""The node side of the VLM perception backends: parameters, the VLM client, and the ``auto`` backend.

``backend: auto`` follows the agent's VLM choice, which the bringup passes as ``vlm`` (the launch's
``vlm:=``): gemini or openai make the node ask that model through the shared VLM layer
(``maestro_tools.vlm``) with ``vlm_model`` (empty: ``DEFAULT_PERCEPTION_MODEL`` for gemini, the agent's
``agent_model`` for openai) and ``vlm_base_url``; scripted, unset, or a VLM that cannot be created (no
API key, no model) fall back to ``offline_backend``, and the log says which backend answers and why.
"""

from __future__ import annotations

from rclpy.node import Node

from maestro_tools.common.params import declare
from maestro_tools.perception.gemini_vision import VLMVision
from maestro_tools.vlm import DEFAULT_PERCEPTION_MODEL, VLMConfigError, create_vlm

MODEL_PARAMETER = "vlm_model"
VLM_CHOICES = ("", "gemini", "openai", "scripted")
VLM_BACKEND = "gemini"  # the backend name of VLM perception (Gemini robotics conventions, any VLM)


def declare_vlm(node: Node) -> str:
    """The node's ``vlm`` parameter: the agent's VLM backend ("" = not given)."""
    return declare(
        node,
        "vlm",
        "",
        "The agent's VLM (the launch's vlm:=): gemini or openai is the model the gemini backend asks, and "
        "the one backend auto uses; scripted or empty: backend auto uses offline_backend",
        choices=VLM_CHOICES,
        read_only=True,
    )


def make_vision(node: Node, backend: str) -> VLMVision:
    """A VLMVision over ``backend`` (gemini or openai) configured by ``vlm_model``, ``agent_model`` and
    ``vlm_base_url``.

    A missing API key or model raises VLMConfigError saying how to set it. A model the server does not
    know fails each request with VLMModelNotFoundError naming ``vlm_model``.
    """
    model = declare(
        node,
        MODEL_PARAMETER,
        "",
        f"Perception model; empty = {DEFAULT_PERCEPTION_MODEL} for vlm gemini, agent_model (then "
        "OPENAI_MODEL) for vlm openai",
        read_only=True,
    )
    agent_model = declare(
        node,
        "agent_model",
        "",
        "The agent's model (the launch's model:=): vlm openai's default",
        read_only=True,
    )
    base_url = declare(
        node, "vlm_base_url", "", "VLM endpoint; empty = the backend's default", read_only=True
    )
    model = model or (DEFAULT_PERCEPTION_MODEL if backend == "gemini" else agent_model)
    options = {"model_parameter": MODEL_PARAMETER}
    options |= {"model": model} if model else {}
    options |= {"base_url": base_url} if base_url else {}
    return VLMVision(create_vlm(backend, **options))


def choose_backend(node: Node, backend: str, offline: tuple[str, ...]) -> tuple[str, VLMVision | None]:
    """The backend that answers and its VLM (None for the offline ones), for the node's ``backend``.

    ``auto`` declares ``offline_backend`` (one of ``offline``, the first by default) and picks as the
    module docstring says; ``gemini`` asks the ``vlm`` model (gemini when unset) and fails at start-up
    without a key, as before.
    """
    vlm = declare_vlm(node)
    if backend == VLM_BACKEND:
        return VLM_BACKEND, make_vision(node, vlm or "gemini")
    if backend != "auto":
        return backend, None
    fallback = declare(
        node,
        "offline_backend",
        offline[0],
        "The backend auto uses when the agent's VLM is scripted, not given or not usable",
        choices=offline,
        read_only=True,
    )
    log = node.get_logger()
    if vlm in ("", "scripted"):
        log.info(f"backend auto: vlm is {vlm or 'not given'}, so the {fallback} backend answers")
        return fallback, None
    try:
        vision = make_vision(node, vlm)
    except VLMConfigError as exc:
        log.warning(f"backend auto: the {vlm} VLM is not usable ({exc}); the {fallback} backend answers")
        return fallback, None
    log.info(f"backend auto: the agent's VLM answers ({vision.vlm!r})")
    return VLM_BACKEND, vision
