"""The objects the sandboxed code calls: stubs of the agent's tools, built in the child from a spec.

Each stub method sends its call over the link and returns the agent's answer; its name, signature
text and docstring are the real tool's, so ``help(robot.move_gripper_to)`` reads the same. Constants
(``geometry.DOWN``) are plain values. ``done`` and ``fail`` report the task's outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from maestro_agent.sandbox.link import Link
from maestro_tools.common.errors import InvalidArgumentError

MAX_REASON = 2000


def _method(link: Link, tool: str, name: str, doc: str, signature: str) -> Callable[..., Any]:
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return link.call(tool, name, args, kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"{tool}.{name}{signature}\n\n{doc}" if doc else f"{tool}.{name}{signature}"
    return call


def build(link: Link, spec: dict[str, Any], constants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{tool name: stub}`` from the host's spec (methods with docs and signatures) and constants."""
    stubs: dict[str, Any] = {}
    for tool, entry in spec.items():
        body: dict[str, Any] = {"__doc__": entry.get("doc", ""), "__module__": "maestro", "__slots__": ()}
        for name, info in entry.get("methods", {}).items():
            body[name] = _method(link, tool, name, info.get("doc", ""), info.get("signature", "(...)"))
        body.update(constants.get(tool, {}))
        body["__repr__"] = lambda self, tool=tool: f"<{tool} (agent tool)>"
        stubs[tool] = type(entry.get("class", tool), (), body)()
    return stubs


def task_functions(link: Link | None) -> dict[str, Callable[..., None]]:
    """``done`` and ``fail``: the outcome events the agent ends a trial on (``link`` None: for docs)."""

    def outcome(kind: str, reason: str) -> None:
        data = {"kind": "outcome", "outcome": kind, "reason": str(reason)[:MAX_REASON]}
        if link is None:
            raise RuntimeError("done() and fail() work only in the sandbox")
        link.send({"msg": "event", "data": data})

    def done(reason: str = "") -> None:
        """Declare the whole task complete (say why); the agent then checks and ends the trial."""
        outcome("done", reason)

    def fail(reason: str) -> None:
        """Declare the task impossible, with the reason."""
        if not str(reason).strip():
            raise InvalidArgumentError("fail() needs a reason")
        outcome("failed", reason)

    return {"done": done, "fail": fail}
