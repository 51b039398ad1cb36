"""An isolated child process that runs model-written code against stubs of the agent's tools.

``Sandbox`` (parent side) checks code with ``policy.check_code``, runs it in a persistent namespace
in ``worker`` (under ``isolation``) and returns an ``Execution``. The code's tool calls come back over
the channel and run here on a ``ToolHost``; the tools report through ``channel``.
"""

from __future__ import annotations

from maestro_agent.sandbox.channel import (
    SandboxCancelled,
    SandboxTimeout,
    current_line,
    emit_event,
    emit_image,
)
from maestro_agent.sandbox.host import ToolHost
from maestro_agent.sandbox.policy import ALLOWED_IMPORTS, Violation, check_code
from maestro_agent.sandbox.runs import Execution, SandboxLimits
from maestro_agent.sandbox.sandbox import Sandbox, SandboxError

__all__ = [
    "ALLOWED_IMPORTS",
    "Execution",
    "Sandbox",
    "SandboxCancelled",
    "SandboxError",
    "SandboxLimits",
    "SandboxTimeout",
    "ToolHost",
    "Violation",
    "check_code",
    "current_line",
    "emit_event",
    "emit_image",
]
