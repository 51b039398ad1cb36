"""The proxy's tools, registered by name with the robot capabilities each needs.

A tool file ends with one ``register_tool`` call; ``build_tools`` instantiates, in registration order,
every tool whose capabilities the robot has, handing each the tools built before it (grasping uses
robot and perception). The prompt's tool documentation is generated from what this returns, so a new
capability is a new file plus its registration (and its import in ``proxy.session``).

Each tool belongs to a tool group of the published additive ablation, cumulative: S0 the robot's own
interfaces (arm, gripper, base, camera observations), S1 + perception, S2 + grasp planning and control
skills, S3 + geometry (everything). An agent built for a group gets, and is told about, only the tools of
that group and the ones below it (the agent's ``tool_group`` parameter; ``maestro eval``'s ``tools``
dimension).

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

TOOL_GROUPS: dict[str, str] = {  # cumulative: each group has its own tools and those above it
    "S0": "base: the robot's arm, gripper, base and camera observations (RGB, depth, intrinsics, pose)",
    "S1": "S0 + perception: detection, pointing and pixel lifting, the semantic map, image drawing",
    "S2": "S1 + grasp planning and control skills (pick and place, turning, folding, the VLA)",
    "S3": "S2 + geometry: rotations, hinges and arcs, wiping paths (every tool)",
}
FULL_GROUP = "S3"

Builder = Callable[[Any, Harness, dict[str, Any]], Any]  # (RosClient or None, harness, built) -> tool


@dataclass(frozen=True)
class ToolEntry:
    name: str  # what generated code calls it: robot, perception, ...
    requires: frozenset[str]  # robot capabilities (maestro_tools.robots.profile.CAPABILITIES)
    build: Builder
    group: str  # the tool group (TOOL_GROUPS) from which on it is given to the agent


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


def check_group(group: str) -> str:
    if group not in TOOL_GROUPS:
        raise InvalidArgumentError(f"unknown tool group {group!r}; valid: {', '.join(TOOL_GROUPS)}")
    return group


def in_group(entry: ToolEntry, group: str) -> bool:
    """Whether ``entry`` is given to an agent with tool group ``group``."""
    order = list(TOOL_GROUPS)
    return order.index(entry.group) <= order.index(check_group(group))


def register_tool(name: str, requires: Iterable[str], build: Builder, group: str) -> None:
    check_group(group)
    needs = frozenset(requires)
    unknown = needs - set(CAPABILITIES)
    if unknown:
        raise InvalidArgumentError(
            f"tool {name!r} requires unknown capabilities {sorted(unknown)}; valid: {CAPABILITIES}"
        )
    if name in _TOOLS and _TOOLS[name].build is not build:
        raise InvalidArgumentError(f"a tool named {name!r} is registered already")
    _TOOLS[name] = ToolEntry(name, needs, build, group)


def registered_tools() -> tuple[ToolEntry, ...]:
    return tuple(_TOOLS.values())


def available_tools(robot: Any, group: str = FULL_GROUP) -> tuple[str, ...]:
    """The names of the tools an agent for ``robot`` with tool group ``group`` gets."""
    capabilities = enabled_capabilities(robot)
    return tuple(e.name for e in _TOOLS.values() if e.requires <= capabilities and in_group(e, group))


def build_tools(ros: Any, harness: Harness, group: str = FULL_GROUP) -> dict[str, Any]:
    """The tools the harness's robot supports in tool group ``group``, over ``ros`` (None: for documentation
    only). Tools outside the group are still built when one inside builds on them (grasping picks through
    perception's detector), but the code is not given them."""
    built: dict[str, Any] = {}
    for entry in _TOOLS.values():
        if entry.requires <= enabled_capabilities(harness.robot):
            built[entry.name] = entry.build(ros, harness, built)
    given = set(available_tools(harness.robot, group))
    return {name: tool for name, tool in built.items() if name in given}
