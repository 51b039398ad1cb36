"""The proxy's tools, registered by name with the robot capabilities each needs.

A tool file ends with one ``register_tool`` call; ``build_tools`` instantiates, in registration order,
every tool whose capabilities the robot has, handing each the tools built before it (grasping uses
robot and perception). The prompt's tool documentation is generated from what this returns, so a new
capability is a new file plus its registration (and its import in ``proxy.session``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from maestro_agent.proxy.harness import Harness
from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.robots.profile import CAPABILITIES

Builder = Callable[[Any, Harness, dict[str, Any]], Any]  # (RosClient or None, harness, built) -> tool


@dataclass(frozen=True)
class ToolEntry:
    name: str  # what generated code calls it: robot, perception, ...
    requires: frozenset[str]  # robot capabilities (maestro_tools.robots.profile.CAPABILITIES)
    build: Builder


_TOOLS: dict[str, ToolEntry] = {}


def register_tool(name: str, requires: Iterable[str], build: Builder) -> None:
    needs = frozenset(requires)
    unknown = needs - set(CAPABILITIES)
    if unknown:
        raise InvalidArgumentError(
            f"tool {name!r} requires unknown capabilities {sorted(unknown)}; valid: {CAPABILITIES}"
        )
    if name in _TOOLS and _TOOLS[name].build is not build:
        raise InvalidArgumentError(f"a tool named {name!r} is registered already")
    _TOOLS[name] = ToolEntry(name, needs, build)


def registered_tools() -> tuple[ToolEntry, ...]:
    return tuple(_TOOLS.values())


def build_tools(ros: Any, harness: Harness) -> dict[str, Any]:
    """The tools the harness's robot supports, over ``ros`` (None: for documentation only)."""
    built: dict[str, Any] = {}
    for entry in _TOOLS.values():
        if entry.requires <= harness.robot.capabilities:
            built[entry.name] = entry.build(ros, harness, built)
    return built
