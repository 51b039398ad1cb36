"""A child process that runs model-written code against the client proxy, with limits.

``Sandbox`` (parent side) checks code with ``policy.check_code``, runs it in a persistent namespace
in ``worker`` and returns an ``Execution``; the proxy, inside the child, reports through ``channel``.
"""

from __future__ import annotations

from maestro_agent.sandbox.channel import (
    SandboxCancelled,
    SandboxTimeout,
    current_line,
    emit_event,
    emit_image,
)
from maestro_agent.sandbox.policy import ALLOWED_IMPORTS, Violation, check_code
from maestro_agent.sandbox.sandbox import Execution, Sandbox, SandboxError, SandboxLimits

__all__ = [
    "ALLOWED_IMPORTS",
    "Execution",
    "Sandbox",
    "SandboxCancelled",
    "SandboxError",
    "SandboxLimits",
    "SandboxTimeout",
    "Violation",
    "check_code",
    "current_line",
    "emit_event",
    "emit_image",
]
