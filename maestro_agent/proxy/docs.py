"""The tool documentation in the VLM's prompt, generated from the proxy's signatures and docstrings."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from maestro_agent.proxy import types
from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.registry import FULL_GROUP
from maestro_agent.proxy.session import tools
from maestro_agent.sandbox.stubs import task_functions
from maestro_tools.robots import get_robot

RESULT_TYPES = (
    types.RobotState,
    types.GripperState,
    types.Detection,
    types.Keypoint,
    types.GraspCandidate,
    types.ImageCrop,
    types.Observation,
    types.MappedObject,
    types.TurnResult,
    types.FoldResult,
    types.PushResult,
    types.BasePose,
)


def _signature(function: Any, owner: str | None) -> str:
    parameters = []
    for name, parameter in inspect.signature(function).parameters.items():
        if name == "self":
            continue
        text = name
        if parameter.annotation is not inspect.Parameter.empty:
            text += f": {parameter.annotation}"  # a string under postponed evaluation
        if parameter.default is not inspect.Parameter.empty:
            text += f" = {parameter.default!r}"
        parameters.append(text)
    returns = inspect.signature(function).return_annotation
    arrow = f" -> {returns}" if returns is not inspect.Signature.empty and returns != "None" else ""
    prefix = f"{owner}.{function.__name__}" if owner else function.__name__
    return f"{prefix}({', '.join(parameters)}){arrow}"


def _doc(thing: Any) -> str:
    return " ".join(inspect.getdoc(thing).split()) if inspect.getdoc(thing) else ""


def _gripper_line(profile: Any) -> str:
    gripper = profile.gripper
    if gripper is None:
        return ""
    return (
        f" Gripper: opens {gripper.max_width * 100:g} cm; grasp force {gripper.grasp_force:g} N by default, "
        f"at most {gripper.max_force:g} N."
    )


def describe_tools(robot: str, harness: bool = True, tool_group: str = FULL_GROUP) -> str:
    """Markdown listing the tools the code may call on ``robot`` (those of ``tool_group``), grouped by
    object, then the result types."""
    profile = get_robot(robot)
    lines: list[str] = [
        f"Robot: {profile.description}. Cameras: {', '.join(profile.camera_names)} (detection uses "
        f"{profile.detection_camera} by default). Workspace: {profile.workspace.describe()} in the "
        f"{profile.base_frame} frame." + _gripper_line(profile),
        "",
    ]
    for name, obj in tools(None, Harness(profile, enabled=harness), tool_group).items():
        lines.append(f"### {name}\n{_doc(type(obj))}")
        for attribute, member in inspect.getmembers(type(obj), inspect.isfunction):
            if attribute.startswith("_") or not hasattr(member, "__wrapped__"):
                continue
            lines.append(f"- `{_signature(member.__wrapped__, name)}`: {_doc(member)}")
        constants = [a for a in vars(type(obj)) if a.isupper()]
        lines.extend(f"- `{name}.{c}` = {getattr(obj, c).round(4).tolist()}" for c in constants)
        lines.append("")
    lines.append("### task")
    lines.extend(f"- `{_signature(f, None)}`: {_doc(f)}" for f in task_functions(None).values())
    lines.append("\n### result types (dataclasses; numpy arrays; print them to see values)")
    for result in RESULT_TYPES:
        fields = ", ".join(f"{f.name}: {f.type}" for f in dataclasses.fields(result))
        extra = [n for n, v in vars(result).items() if isinstance(v, property)]
        lines.append(f"- `{result.__name__}({fields})`" + (f"; also {', '.join(extra)}" if extra else ""))
    lines.append(
        "\nErrors are exceptions (NotFoundError, UnreachableError, GraspFailedError, StalledError, ...) "
        "whose message says what to try next; a failing call ends the substep and you see the message "
        "unless the code catches it by name (`except StalledError as e:`)."
    )
    return "\n".join(lines)
