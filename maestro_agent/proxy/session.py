"""What the sandboxed code sees: the proxy objects, built once per sandbox process.

``make_globals`` is the sandbox's setup function (``maestro_agent.proxy.session:make_globals``): it
starts the proxy's ROS node in the sandbox process and returns the names injected into the code.
"""

from __future__ import annotations

import atexit
from typing import Any

import numpy as np

# The tool modules, imported for their registration (each imports the tools it builds on first).
import maestro_agent.proxy.geometry
import maestro_agent.proxy.grasping
import maestro_agent.proxy.image_editor
import maestro_agent.proxy.perception
import maestro_agent.proxy.robot  # noqa: F401
from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.registry import build_tools
from maestro_agent.proxy.ros_client import RosClient
from maestro_agent.sandbox import channel
from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.robots import get_robot


def done(reason: str = "") -> None:
    """Declare the whole task complete (say why); the agent then checks and ends the trial."""
    channel.emit_event("outcome", outcome="done", reason=str(reason))


def fail(reason: str) -> None:
    """Declare the task impossible, with the reason."""
    if not str(reason).strip():
        raise InvalidArgumentError("fail() needs a reason")
    channel.emit_event("outcome", outcome="failed", reason=str(reason))


def tools(ros: Any, harness: Harness) -> dict[str, Any]:
    """The proxy objects for the harness's robot over ``ros`` (a RosClient, or None for documentation)."""
    return build_tools(ros, harness)


def make_globals(
    robot: str,
    namespace: str = "/maestro",
    harness: bool = True,
    attempts: int = 3,
    interface: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``interface``: the robot interface's names (gripper_action, joint_states_topic, joint_prefix)."""
    profile = get_robot(robot)
    ros = RosClient(profile, namespace=namespace, **(interface or {}))
    atexit.register(ros.close)
    names = tools(ros, Harness(profile, enabled=harness, attempts=attempts))
    return {**names, "done": done, "fail": fail, "np": np}
