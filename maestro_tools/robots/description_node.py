"""``robot_description_node``: the latched /robot_description (URDF) of the ``robot`` profile, for RViz.

The simulations publish it themselves; a robot whose driver runs where the URDF cannot be generated (the
LIBERO node, under mujoco 2.3.7, while the URDF comes from the profile's MJCF through mujoco 4) gets it
from this node, as robot_state_publisher would give it. TF comes from the robot's own driver.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rclpy.node import Node
from std_msgs.msg import String

from maestro_tools.common.node_main import run_node
from maestro_tools.common.qos import LATCHED_QOS
from maestro_tools.robots.description import robot_description
from maestro_tools.robots.params import declare_robot


class RobotDescriptionNode(Node):
    def __init__(self, **kwargs: Any) -> None:  # kwargs: Node's (context, namespace, parameter_overrides)
        super().__init__("robot_description", **kwargs)
        profile = declare_robot(self)
        urdf = robot_description(profile)
        self.publisher = self.create_publisher(String, "/robot_description", LATCHED_QOS)
        self.publisher.publish(String(data=urdf))
        self.get_logger().info(f"/robot_description: {profile.name}, {len(urdf)} characters of URDF")


def main(args: Sequence[str] | None = None) -> int:
    return run_node(RobotDescriptionNode, args)


if __name__ == "__main__":
    sys.exit(main())
