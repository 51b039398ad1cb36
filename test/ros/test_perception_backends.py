"""Perception over ROS without a Gemini key: the keypointer's backend auto follows the agent's VLM choice
(scripted: the offline backend; gemini: the model; gemini without a key: the offline backend, said in
the log), the sim backend points at named parts, and the agent's point_at_pixel lifts a pixel with the
camera topics' depth and the TF pose at the image's stamp."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter

from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.perception import Perception
from maestro_agent.proxy.ros_client import RosClient
from maestro_msgs.msg import ErrorCode
from maestro_msgs.srv import Point
from maestro_tools.common.render import project
from maestro_tools.perception.gemini_node import choose_backend
from maestro_tools.robots import get_robot
from maestro_tools.sim.world import SimWorld
from maestro_tools.vlm.defaults import DEFAULT_PERCEPTION_MODEL
from test.fakes.gemini_server import FakeGeminiServer
from test.ros.helpers import call, ros_graph, spawn_node, stop, unique

FRANKA = get_robot("franka")
KEYS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


def keypointer(ns: str, service: str, key: str, **parameters: object) -> subprocess.Popen[str]:
    """A keypointer node serving ``service`` (its own name too), with ``key`` as its Gemini key ("": none)."""
    command = [sys.executable, "-m", "maestro_tools.perception.keypointer_node", "--ros-args"]
    command += ["-r", f"__ns:={ns}", "-r", f"__node:={service}", "-r", f"point:={service}"]
    for name, value in {"timeout": 20.0, **parameters}.items():
        command += ["-p", f"{name}:={value}"]
    env = {k: v for k, v in os.environ.items() if k not in KEYS} | {"PYTHONUNBUFFERED": "1"}
    env |= {"GEMINI_API_KEY": key} if key else {}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def test_auto_backends_named_parts_and_pixel_lifting() -> None:
    ns = "/" + unique("percvlm")
    truth = SimWorld("hang_mug", 0)
    stand = truth.position("mug hanger stand") + truth.rotation("mug hanger stand") @ [0.0, -0.045, 0.016]
    truth.close()
    with FakeGeminiServer() as server:
        server.reply(json.dumps([{"point": [500, 500], "label": "peg tip"}]))
        processes = [
            spawn_node("maestro_tools.sim.node", ns, task="hang_mug", camera_rate=5.0),
            keypointer(ns, "truth", "", backend="auto", vlm="scripted", offline_backend="sim"),
            keypointer(ns, "nokey", "", backend="auto", vlm="gemini"),
            keypointer(ns, "model", "test-key", backend="auto", vlm="gemini", vlm_base_url=server.url),
        ]
        ros = None
        try:
            with ros_graph(lambda c: Node(unique("perc_client"), context=c)) as (node,):

                def point(service: str, description: str) -> Point.Response:
                    client = node.create_client(Point, f"{ns}/{service}")
                    return call(client, Point.Request(description=description, camera="scene"), 40)

                tip = point("truth", "the tip of the peg")  # vlm:=scripted: simulator truth
                assert tip.success and tip.points[0].label == "stand/peg_tip", tip.message
                assert 0.27 < tip.points[0].position.z < 0.3 and 0 <= tip.points[0].u < 640
                refused = point("nokey", "the handle of the mug")  # no key: the geometric fallback
                assert refused.error_code == ErrorCode.INVALID_ARGUMENT
                assert "point_at_pixel" in refused.message and "geometric parts" in refused.message
                assert point("nokey", "the top of the mug cup").success
                asked = point("model", "the tip of the peg")  # vlm:=gemini with a key: the model points
                assert asked.success and asked.points[0].label == "peg tip", asked.message
                assert (asked.points[0].u, asked.points[0].v) == (320.0, 240.0)

            ros = RosClient(FRANKA, namespace=ns, node_name=unique("proxy"))
            perception = Perception(ros, Harness(FRANKA), None)
            frame = ros.frame("scene")
            pixels, _ = project(stand, frame.intrinsics, frame.camera_pose)
            lifted = perception.point_at_pixel(float(pixels[0, 0]), float(pixels[0, 1]), "scene")
            assert np.linalg.norm(lifted.position - stand) < 0.01, (lifted.position, stand)
        finally:
            if ros is not None:
                ros.close()
            outputs = [stop(p) for p in processes]
    assert len(server.requests) == 1 and "the tip of the peg" in json.dumps(server.requests[0].body)
    assert server.requests[0].path == f"/v1beta/models/{DEFAULT_PERCEPTION_MODEL}:generateContent"
    assert "backend auto: vlm is scripted, so the sim backend answers" in outputs[1]
    assert "the gemini VLM is not usable (No Gemini API key" in outputs[2]
    assert "geometric backend answers" in outputs[2]
    assert not any("Traceback" in output for output in outputs), outputs


def test_auto_takes_the_agents_openai_model_and_falls_back_without_one(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    context = Context()
    rclpy.init(context=context)
    try:

        def node(**values: str) -> Node:
            overrides = [Parameter(name, value=value) for name, value in values.items()]
            return Node(unique("auto"), context=context, parameter_overrides=overrides)

        url = "http://127.0.0.1:9/v1"
        backend, vision = choose_backend(
            node(vlm="openai", agent_model="qwen", vlm_base_url=url), "auto", ("sim",)
        )
        assert backend == "gemini" and vision.vlm.model == "qwen" and vision.vlm.base_url == url
        chosen = node(vlm="openai", agent_model="qwen", vlm_model="llava", vlm_base_url=url)
        assert choose_backend(chosen, "auto", ("sim",))[1].vlm.model == "llava"
        assert choose_backend(node(vlm="openai"), "auto", ("sim", "geometric")) == ("sim", None)  # no model
        assert choose_backend(node(vlm="scripted"), "auto", ("geometric", "sim")) == ("geometric", None)
        assert choose_backend(node(vlm="openai", agent_model="qwen"), "sim", ("sim",)) == ("sim", None)
    finally:
        rclpy.shutdown(context=context)
