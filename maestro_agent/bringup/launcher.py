"""``maestro launch``: resolve a robot's bringup spec and run it under the supervisor."""

from __future__ import annotations

import os
import shlex
import sys
from importlib import metadata
from pathlib import Path
from typing import TextIO

from maestro_agent.bringup.paths import bringup_specs, find_executable, share_dir
from maestro_agent.bringup.spec import BringupSpec, ResolvedNode, load_spec, parse_overrides, resolve
from maestro_agent.bringup.supervisor import Supervisor, node_command
from maestro_tools.common.errors import NotFoundError


def spec_for(robot: str) -> BringupSpec:
    """Load the bringup spec of ``robot``, or fail naming the robots that have one."""
    specs = bringup_specs()
    if robot not in specs:
        raise NotFoundError(f"unknown robot {robot!r}; valid robots: {', '.join(specs) or 'none'}")
    return load_spec(specs[robot])


def describe_arguments(spec: BringupSpec) -> str:
    lines = [f"Launch arguments of {spec.robot} ({spec.path}):"]
    for argument in spec.arguments:
        valid = argument.valid()
        takes = f" ({valid})" if valid else ""
        lines.append(f"  {argument.name}:={argument.default}\n      {argument.description}{takes}")
    return "\n".join(lines)


def resolve_commands(
    robot: str, argv: list[str], *, require_executables: bool = True
) -> list[tuple[ResolvedNode, list[str]]]:
    """Resolved nodes of ``robot`` with the command line that starts each."""
    spec = spec_for(robot)
    nodes = resolve(spec, parse_overrides(argv), share_dir())
    commands, missing = [], []
    for node in nodes:
        executable = find_executable(node.package, node.executable)
        if executable is None:
            missing.append(node)
            executable = Path(node.executable)
        commands.append((node, node_command(node, executable)))
    if missing and require_executables:
        raise NotFoundError(_missing_message(missing))
    return commands


def _missing_message(missing: list[ResolvedNode]) -> str:
    """Say whether a missing executable is merely not installed, or not part of this maestro at all."""
    ours = maestro_executables()
    unknown = [n for n in missing if n.package == "maestro" and ours and n.executable not in ours]
    parts = [f"{n.executable} (node {n.name}, package {n.package})" for n in missing]
    if unknown:
        names = ", ".join(f"{n.executable} (node {n.name})" for n in unknown)
        return (
            f"{names}: not an executable of this version of maestro, whose executables are "
            f"{', '.join(sorted(ours))}; this bringup cannot start yet (see README, Status)"
        )
    return (
        f"executables not installed: {'; '.join(parts)}. Run 'make setup' (or 'colcon build' on a ROS "
        "install) so that the package's console scripts exist."
    )


def maestro_executables() -> set[str]:
    """Console scripts the installed maestro distribution declares (empty if it is not installed)."""
    try:
        return {e.name for e in metadata.distribution("maestro").entry_points if e.group == "console_scripts"}
    except metadata.PackageNotFoundError:
        return set()


def launch(robot: str, argv: list[str], *, dry_run: bool = False, out: TextIO | None = None) -> int:
    """Start (or, with dry_run, print) the bringup of ``robot``; return the process exit code."""
    out = out or sys.stdout
    commands = resolve_commands(robot, argv, require_executables=not dry_run)
    if dry_run:
        for node, command in commands:
            flags = [f for f, on in (("respawn", node.respawn), ("required", node.required)) if on]
            out.write(f"# {node.fully_qualified_name}{' (' + ', '.join(flags) + ')' if flags else ''}\n")
            out.write(shlex.join(command) + "\n")
        return 0
    env = dict(os.environ)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env["PYTHONUNBUFFERED"] = "1"
    return Supervisor(commands, out=out, env=env).run()
