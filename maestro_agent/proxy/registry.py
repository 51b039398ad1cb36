"""The proxy's tools, registered by name with the robot capabilities each needs.

A tool file ends with one ``register_tool`` call; ``build_tools`` instantiates, in registration order,
every tool whose capabilities the robot has, handing each the tools built before it (grasping uses
robot and perception). The prompt's tool documentation is generated from what this returns, so a new
capability is a new file plus its registration (and its import in ``proxy.session``).

Opt-in capabilities (``vla``) are declared by a profile but need a running node the bringup may not start
(the vla_bridge): their tools are built only once the process enables them (the agent's ``vla``
parameter), so the default tool set the model sees is unchanged.
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
OPT_IN = frozenset({"vla"})
_enabled: set[str] = set()


def enable_capabilities(names: Iterable[str], enabled: bool = True) -> None:
    """Switch opt-in capabilities on (or off) for this process (the agent node, from its parameters)."""
    names = set(names)
    if names - OPT_IN:
        raise InvalidArgumentError(
            f"only {sorted(OPT_IN)} are opt-in capabilities, got {sorted(names - OPT_IN)}"
        )
    if enabled:
        _enabled.update(names)
    else:
        _enabled.difference_update(names)


def enabled_capabilities(robot: Any) -> frozenset[str]:
    """``robot``'s capabilities less the opt-in ones this process has not enabled."""
    return frozenset(robot.capabilities - (OPT_IN - _enabled))


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
        if entry.requires <= enabled_capabilities(harness.robot):
            built[entry.name] = entry.build(ros, harness, built)
    return built
