"""The keypointer's sim backend over ROS: the simulator's named sites as exact keypoints."""

from __future__ import annotations

import numpy as np
from rclpy.node import Node

from maestro_msgs.msg import ErrorCode
from maestro_msgs.srv import Point
from maestro_tools.sim.world import SimWorld
from test.ros.helpers import call, ros_graph, spawn_node, stop, unique


def test_sim_keypointer_answers_with_the_scene_sites() -> None:
    ns = "/" + unique("sites")
    processes = [
        spawn_node("maestro_tools.sim.node", ns, task="hang_mug"),
        spawn_node("maestro_tools.perception.keypointer_node", ns, backend="sim", timeout=20.0),
    ]
    truth = SimWorld("hang_mug", 0)
    expected = truth.named_sites()
    truth.close()
    try:
        with ros_graph(lambda c: Node(unique("sites_client"), context=c)) as (node,):
            client = node.create_client(Point, f"{ns}/point")
            assert client.wait_for_service(timeout_sec=30)
            reply = call(client, Point.Request(description="the handle of the mug", camera="scene"), 40)
            assert reply.success, reply.message
            handle = reply.points[0]
            assert handle.label == "mug/handle" and handle.has_3d
            position = np.array([handle.position.x, handle.position.y, handle.position.z])
            assert np.linalg.norm(position - expected["mug/handle"]) < 0.005
            assert 0 <= handle.u < 640 and 0 <= handle.v < 480 and reply.image.width == 640

            two = call(client, Point.Request(description="the peg of the stand", max_points=2), 40)
            assert two.success and two.points[0].label == "stand/peg_middle" and len(two.points) == 2

            unknown = call(client, Point.Request(description="the spout of the kettle"), 40)
            assert unknown.error_code == ErrorCode.NOT_FOUND and "mug/handle" in unknown.message
    finally:
        outputs = [stop(p) for p in processes]
    assert not any("Traceback" in output for output in outputs), outputs
