"""robot_description_node latches the profile's URDF on /robot_description (the LIBERO bringup's)."""

from __future__ import annotations

from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String

from maestro_tools.common.qos import LATCHED_QOS
from maestro_tools.robots.description_node import RobotDescriptionNode
from test.ros.helpers import ros_graph, unique, wait_for


def test_a_late_subscriber_gets_the_libero_urdf() -> None:
    namespace = "/" + unique("described")
    with ros_graph(
        lambda c: RobotDescriptionNode(
            context=c, namespace=namespace, parameter_overrides=[Parameter("robot", value="libero")]
        ),
        lambda c: Node(unique("viewer"), context=c),
    ) as (_, viewer):
        got: list[str] = []
        viewer.create_subscription(String, "/robot_description", lambda m: got.append(m.data), LATCHED_QOS)
        assert wait_for(lambda: bool(got), 10.0)
    urdf = got[0]
    assert '<robot name="libero">' in urdf
    assert all(f'<link name="panda_link{k}">' in urdf for k in range(8))
    assert '<link name="wrist_camera_optical_frame"' in urdf
