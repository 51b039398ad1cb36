"""The tools the sandboxed code calls, built in the agent process behind the actuation gate.

``make_host`` creates the tools' ROS client (its own node and context, in the agent), the gate
every motion goal passes, and the registered tools for the robot; the sandbox hands their stubs to
the code and serves each call here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# The tool modules, imported for their registration (each imports the tools it builds on first).
import maestro_agent.proxy.base
import maestro_agent.proxy.geometry
import maestro_agent.proxy.grasping
import maestro_agent.proxy.image_editor
import maestro_agent.proxy.perception
import maestro_agent.proxy.robot
import maestro_agent.proxy.semantic_map
import maestro_agent.proxy.skills
import maestro_agent.proxy.vla  # noqa: F401
from maestro_agent.proxy.base import BODY_ACTION
from maestro_agent.proxy.gate import TOOL_ENDPOINTS, ActuationGate, Confirm, GateLimits
from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.registry import FULL_GROUP, build_tools, enabled_capabilities
from maestro_agent.proxy.ros_client import RosClient
from maestro_agent.proxy.types import VALUE_TYPES
from maestro_agent.proxy.vla import ACTION as VLA_ACTION
from maestro_agent.sandbox import ToolHost
from maestro_tools.robots import get_robot
from maestro_tools.robots.model import RobotModel


def tools(ros: Any, harness: Harness, tool_group: str = FULL_GROUP) -> dict[str, Any]:
    """The proxy objects for the harness's robot over ``ros`` (a RosClient, or None for documentation)."""
    return build_tools(ros, harness, tool_group)


def make_host(
    robot: str,
    namespace: str = "/maestro",
    harness: bool = True,
    attempts: int = 3,
    interface: dict[str, str] | None = None,
    gate_limits: GateLimits | None = None,
    allowed_endpoints: Iterable[str] = (),
    confirm: Confirm | None = None,
    tool_group: str = FULL_GROUP,
) -> tuple[ToolHost, RosClient]:
    """The tool host for ``robot`` and the ROS client it owns (close it when done).

    ``interface``: the robot interface's names (gripper_action, joint_states_topic, joint_prefix).
    ``tool_group``: the tools the code gets (proxy.registry.TOOL_GROUPS).
    """
    profile = get_robot(robot)
    names = dict(interface or {})
    model = RobotModel(profile) if profile.arm else None
    limits = (model.lower, model.upper) if model else ((), ())
    gripper_action = names.get("gripper_action", "gripper_controller/gripper_cmd")
    allowed = {*TOOL_ENDPOINTS, gripper_action, *allowed_endpoints}
    if profile.base is not None and (profile.base.min_height_offset < 0 or profile.base.max_pitch > 0):
        allowed.add(BODY_ACTION)  # a legged base's body posture (base.set_body)
    if "vla" in enabled_capabilities(profile):
        allowed.add(VLA_ACTION)  # the vla_bridge's run_policy (the bridge drives the arm itself)
    gate = ActuationGate(profile, limits, gate_limits, allowed, confirm)
    ros = RosClient(profile, namespace=namespace, gate=gate, **names)
    try:
        built = tools(ros, Harness(profile, enabled=harness, attempts=attempts), tool_group)
    except BaseException:
        ros.close()
        raise
    return ToolHost(built, VALUE_TYPES), ros
