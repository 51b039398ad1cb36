"""The detector's and keypointer's gemini backends over ROS: sim camera topics in, a fake Gemini server
as the model (the real google-genai SDK talks to it), 3D detections and points out."""

from __future__ import annotations

import json

from rclpy.node import Node

from maestro_msgs.msg import ErrorCode
from maestro_msgs.srv import Detect, Point
from maestro_tools.vlm.defaults import DEFAULT_PERCEPTION_MODEL
from test.fakes.gemini_server import FakeGeminiServer
from test.ros.helpers import call, ros_graph, spawn_node, stop, unique


def test_gemini_detector_and_keypointer_over_the_sim_camera_topics(monkeypatch) -> None:
    ns = "/" + unique("vlmperc")
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")  # inherited by the spawned nodes
    with FakeGeminiServer() as server:
        server.reply(json.dumps([{"box_2d": [400, 550, 520, 650], "label": "red block"}]))
        server.reply("[]")
        server.reply('[{"point": [460, 600], "label": "red block top"}]')
        server.fail(404, "models/x is not found for API version v1beta")  # a shut-down model
        common = {"backend": "gemini", "vlm_base_url": server.url, "timeout": 20.0}
        processes = [
            spawn_node("maestro_tools.sim.node", ns, task="clean_table", camera_rate=5.0),
            spawn_node("maestro_tools.perception.detector_node", ns, **common),
            spawn_node("maestro_tools.perception.keypointer_node", ns, **common),
        ]
        try:
            with ros_graph(lambda c: Node(unique("vlm_client"), context=c)) as (node,):
                detector = node.create_client(Detect, f"{ns}/detect")
                pointer = node.create_client(Point, f"{ns}/point")
                red = call(detector, Detect.Request(labels=["red block"], camera="scene"), 40)
                assert red.success, red.message
                assert red.detections[0].label == "red block" and red.detections[0].box.width > 0
                assert red.image.width == 640
                nothing = call(detector, Detect.Request(labels=["spatula"], camera="scene"), 40)
                assert nothing.error_code == ErrorCode.NOT_FOUND and "spatula" in nothing.message
                top = call(pointer, Point.Request(description="the top of the red block", camera="scene"), 40)
                assert top.success, top.message
                assert abs(top.points[0].u - 384) < 1 and abs(top.points[0].v - 220.8) < 1
                gone = call(detector, Detect.Request(labels=["red block"], camera="scene"), 40)
                assert gone.error_code == ErrorCode.INVALID_ARGUMENT, gone.message
                assert "was not found" in gone.message and "`vlm_model`" in gone.message
        finally:
            outputs = [stop(p) for p in processes]
        assert len(server.requests) == 4 and "red block" in json.dumps(server.requests[0].body)
        assert server.requests[0].path == f"/v1beta/models/{DEFAULT_PERCEPTION_MODEL}:generateContent"
    assert not any("Traceback" in output for output in outputs), outputs
