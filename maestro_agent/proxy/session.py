"""What the sandboxed code sees: the proxy objects, built once per sandbox process.

``make_globals`` is the sandbox's setup function (``maestro_agent.proxy.session:make_globals``): it
starts the proxy's ROS node in the sandbox process and returns the names injected into the code.
"""

from __future__ import annotations

import atexit
from typing import Any

import numpy as np

from maestro_agent.proxy.geometry import Geometry
from maestro_agent.proxy.grasping import Grasping
from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.image_editor import ImageEditor
from maestro_agent.proxy.perception import Perception
from maestro_agent.proxy.robot import Robot
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
    """The proxy objects over ``ros`` (a RosClient, or None for documentation only)."""
    robot = Robot(ros, harness)
    perception = Perception(ros, harness, robot)
    return {
        "robot": robot,
        "perception": perception,
        "grasping": Grasping(ros, harness, robot, perception),
        "geometry": Geometry(),
        "image_editor": ImageEditor(ros, harness),
    }


def make_globals(
    robot: str, namespace: str = "/maestro", harness: bool = True, attempts: int = 3
) -> dict[str, Any]:
    profile = get_robot(robot)
    ros = RosClient(profile.camera_names, namespace=namespace)
    atexit.register(ros.close)
    names = tools(ros, Harness(profile, enabled=harness, attempts=attempts))
    return {**names, "done": done, "fail": fail, "np": np}
