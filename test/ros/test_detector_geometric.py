"""The detector's geometric backend over ROS: camera topics in, colour-named detections out."""

from __future__ import annotations

from rclpy.node import Node

from maestro_msgs.msg import ErrorCode
from maestro_msgs.srv import Detect
from test.ros.helpers import call, ros_graph, spawn_node, stop, unique


def test_geometric_detector_over_the_sim_camera_topics() -> None:
    ns = "/" + unique("geo")
    processes = [
        spawn_node("maestro_tools.sim.node", ns, task="clean_table", camera_rate=5.0),
        spawn_node("maestro_tools.perception.detector_node", ns, backend="geometric", timeout=20.0),
    ]
    try:
        with ros_graph(lambda c: Node(unique("geo_client"), context=c)) as (node,):
            client = node.create_client(Detect, f"{ns}/detect")
            assert client.wait_for_service(timeout_sec=30)

            def detect(request: Detect.Request) -> Detect.Response:
                return call(client, request, 40)

            red = detect(Detect.Request(labels=["red block"], camera="scene"))
            assert red.success, red.message
            detection = red.detections[0]
            assert detection.has_3d and 0.04 < detection.extent.x < 0.09
            assert 0.3 < detection.pose.position.x < 0.8
            unknown = detect(Detect.Request(labels=["spatula"], camera="scene"))
            assert unknown.error_code == ErrorCode.NOT_FOUND and "red object" in unknown.message
    finally:
        outputs = [stop(p) for p in processes]
    assert not any("Traceback" in output for output in outputs), outputs
