"""The one place that names the default models. Everything else (the clients, the perception nodes'
parameters, the README) takes them from here.

Both are current on the Gemini API deprecations page (https://ai.google.dev/gemini-api/docs/deprecations);
gemini-2.5-flash and gemini-robotics-er-1.5-preview, the earlier defaults, are shut down in 2026.
"""

from __future__ import annotations

DEFAULT_AGENT_MODEL = "gemini-3.5-flash"  # the agent: plans, code, judgements
DEFAULT_PERCEPTION_MODEL = "gemini-robotics-er-2-preview"  # detector/keypointer: boxes and pointing
GEMINI_MODELS_URL = "https://ai.google.dev/gemini-api/docs/models"

__all__ = ["DEFAULT_AGENT_MODEL", "DEFAULT_PERCEPTION_MODEL", "GEMINI_MODELS_URL"]
