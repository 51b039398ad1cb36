"""The parameters every robot-aware node declares: which robot, and the support surfaces around it."""

from __future__ import annotations

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node
from rclpy.parameter import Parameter

from maestro_tools.common.params import declare
from maestro_tools.common.surfaces import SURFACE_FORMAT, SupportSurface, parse_surfaces
from maestro_tools.robots import get_robot, robot_names
from maestro_tools.robots.profile import RobotProfile


def declare_robot(node: Node) -> RobotProfile:
    """The ``robot`` parameter (set by the bringup) and the profile it names."""
    names = robot_names()
    return get_robot(
        declare(node, "robot", "franka", "Robot profile (see maestro_tools.robots)", choices=names)
    )


def declare_surfaces(node: Node) -> tuple[SupportSurface, ...]:
    """The ``support_surfaces`` parameter: tables, shelves or the floor the robot must not move into."""
    descriptor = ParameterDescriptor(
        description=f"Support surfaces to plan against and to drop from scene clouds; each {SURFACE_FORMAT}",
        type=ParameterType.PARAMETER_STRING_ARRAY,
        read_only=True,
    )
    value = node.declare_parameter("support_surfaces", Parameter.Type.STRING_ARRAY, descriptor).value
    return parse_surfaces(value or [])
