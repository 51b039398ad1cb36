"""TF and cameras as drivers publish them, across processes: the sim's /robot_description and TF,
a TfListener in this process, and TopicFrameSource grabs with 16UC1 and 32FC1 depth and from a
best-effort driver."""

from __future__ import annotations

import re
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped, Quaternion, Transform, TransformStamped, Vector3
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.context import Context
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header, String
from tf2_msgs.msg import TFMessage

from maestro_msgs.srv import GetSegmentation
from maestro_tools.common.conversions import (
    intrinsics_to_camera_info,
    numpy_to_image,
    pose_to_matrix,
    seconds_to_time,
)
from maestro_tools.common.qos import LATCHED_QOS
from maestro_tools.common.tf import TfListener
from maestro_tools.perception.objects import CameraFrame
from maestro_tools.perception.topic_source import TopicFrameSource
from test.ros.helpers import call, ros_graph, spawn_node, stop, unique, wait_for

RVIZ = Path(__file__).resolve().parents[2] / "rviz" / "franka.rviz"


@contextmanager
def sim(encoding: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """One sim at a time: every sim publishes the same frames on /tf."""
    ns = "/" + unique("tfcam")
    process = spawn_node(
        "maestro_tools.sim.node", ns, image_width=320, image_height=240, depth_encoding=encoding
    )
    try:
        yield ns, process
    finally:
        output = stop(process)
        assert "Traceback" not in output, output


def _client(ns: str) -> Callable[[Context], Node]:
    return lambda c: Node(unique("tf_client"), namespace=ns, context=c)


def _sim_camera_pose(node: Node, camera: str) -> np.ndarray:
    client = node.create_client(GetSegmentation, "get_segmentation")
    reply = call(client, GetSegmentation.Request(camera=camera), 60)
    assert reply.success, reply.message
    return pose_to_matrix(reply.camera_pose)


def _grab(
    node: Node, group: ReentrantCallbackGroup, listener: TfListener | None, camera: str = "scene"
) -> CameraFrame:
    frames = TopicFrameSource(node, group, ["scene", "wrist"], 30.0, on_demand=True, tf=listener)
    assert frames.base_frame == "base"  # from the node's robot profile (franka)
    try:
        return frames.grab(camera)
    finally:
        frames.close()


def test_sim_tf_description_and_both_depth_encodings() -> None:
    with sim("16UC1") as (ns, _), ros_graph(_client(ns)) as (node,):
        group = ReentrantCallbackGroup()
        listener = TfListener(node, group)
        descriptions: list[String] = []
        statics: list[TFMessage] = []
        node.create_subscription(String, "/robot_description", descriptions.append, LATCHED_QOS)
        static_qos = QoSProfile(depth=100, durability=LATCHED_QOS.durability)
        node.create_subscription(TFMessage, "/tf_static", statics.append, static_qos)
        assert wait_for(lambda: descriptions and statics, 60), "no latched /robot_description or /tf_static"

        urdf = ET.fromstring(descriptions[-1].data)
        joints = {j.get("name") for j in urdf.findall("joint")}
        assert {f"panda_joint{i}" for i in range(1, 8)} <= joints
        parents = {t.child_frame_id: t.header.frame_id for m in statics for t in m.transforms}
        assert parents["scene_camera_optical_frame"] == "world" and parents["base"] == "world"
        assert parents["wrist_camera_optical_frame"] == "panda_hand"

        wrist = listener.lookup("base", "wrist_camera_optical_frame", timeout=30.0)
        np.testing.assert_allclose(wrist, _sim_camera_pose(node, "wrist"), atol=1e-3)
        # The motion node's one call: a goal in any frame TF knows, in the base frame.
        goal = PoseStamped(header=Header(frame_id="wrist_camera_optical_frame"))
        goal.pose.orientation.w, goal.pose.position.z = 1.0, 0.1  # 10 cm in front of the wrist camera
        in_base = listener.pose_in(goal, "base", timeout=5.0)
        np.testing.assert_allclose(in_base[:3, 3], wrist[:3, 3] + 0.1 * wrist[:3, 2], atol=1e-3)
        world_goal = PoseStamped(header=Header(frame_id="world"))
        world_goal.pose.orientation.w = 1.0
        np.testing.assert_allclose(listener.pose_in(world_goal, "base"), np.eye(4), atol=1e-12)
        frame16 = _grab(node, group, listener)
        np.testing.assert_allclose(frame16.camera_pose, _sim_camera_pose(node, "scene"), atol=1e-9)

        # What the RViz config shows: the sim's topics are there, its frames are in TF.
        rviz = RVIZ.read_text()
        topics = {name for name, _ in node.get_topic_names_and_types()}
        for topic in re.findall(r"Value: (/\S+)", rviz):
            if topic == "/robot_description" or "_camera/" in topic:
                assert wait_for(lambda t=topic: t in topics or t.replace("/maestro", ns) in topics, 5), topic
        fixed = re.search(r"Fixed Frame: (\S+)", rviz).group(1)
        shown = re.findall(r"^ {8}(\w+):\n {10}Value: true", rviz, re.MULTILINE)
        assert fixed == "world" and "wrist_camera_optical_frame" in shown
        for frame in shown:
            listener.lookup(fixed, frame, timeout=5.0)

    with sim("32FC1") as (ns, _), ros_graph(_client(ns)) as (node,):
        group = ReentrantCallbackGroup()
        # Its own on-demand listener this time: /tf heard only while grabbing, or looking up.
        frame32 = _grab(node, group, None)
        wrist = _grab(node, group, None, "wrist")
        np.testing.assert_allclose(wrist.camera_pose, _sim_camera_pose(node, "wrist"), atol=1e-3)
        on_demand = TfListener(node, group, on_demand=True)
        tcp = on_demand.lookup("base", "panda_hand_tcp", timeout=10.0)
        assert 0.2 < tcp[0, 3] < 0.6 and tcp[2, 2] < -0.9  # home: in front of the robot, pointing down

    assert frame16.depth.dtype == frame32.depth.dtype == np.float32
    valid = (frame16.depth > 0) & (frame32.depth > 0)
    # Two runs at slightly different sim times: the same pixels have readings (bar a few edge pixels).
    assert valid.mean() > 0.9 and np.mean((frame16.depth > 0) != (frame32.depth > 0)) < 0.005
    np.testing.assert_allclose(frame16.camera_pose, frame32.camera_pose, atol=1e-9)
    gap = np.linalg.norm(frame16.base_points(valid) - frame32.base_points(valid), axis=1)
    assert np.percentile(gap, 99) < 0.01 and np.median(gap) < 0.001, (np.median(gap), gap.max())


def _transform(parent: str, child: str, xyz: tuple[float, float, float]) -> TransformStamped:
    return TransformStamped(
        header=Header(frame_id=parent),
        child_frame_id=child,
        transform=Transform(translation=Vector3(x=xyz[0], y=xyz[1], z=xyz[2]), rotation=Quaternion(w=1.0)),
    )


def test_a_best_effort_driver_with_millimetre_depth_and_offset_stamps() -> None:
    """Subscribed before the driver exists (so first chosen blind), grabbed once it publishes."""
    ns = "/" + unique("fakecam")
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[..., 0] = 200  # blue in bgr8: the frame must come back as RGB (0, 0, 200)
    depth_mm = np.full((48, 64), 1500, np.uint16)
    depth_mm[:, :8] = 0  # no reading
    k = np.array([[60.0, 0, 31.5], [0, 60.0, 23.5], [0, 0, 1]])
    with ros_graph(_client(ns)) as (node,):
        group = ReentrantCallbackGroup()
        frames = TopicFrameSource(node, group, ["fake"], 15.0, base_frame="base", pair_tolerance=0.01)
        context = Context()
        rclpy.init(context=context)
        driver = Node(unique("fake_driver"), namespace=ns, context=context)
        best_effort = QoSProfile(depth=2, reliability=ReliabilityPolicy.BEST_EFFORT)
        colour_pub = driver.create_publisher(Image, "fake_camera/color/image_raw", best_effort)
        depth_pub = driver.create_publisher(Image, "fake_camera/depth/image_raw", best_effort)
        info_pub = driver.create_publisher(CameraInfo, "fake_camera/color/camera_info", best_effort)
        static = driver.create_publisher(TFMessage, "/tf_static", LATCHED_QOS)
        static.publish(TFMessage(transforms=[_transform("base", "fake_optical", (0.0, 0.0, 2.0))]))
        running = threading.Event()
        running.set()

        def publish() -> None:
            t = 100.0
            while running.is_set():
                t += 0.05
                header = Header(stamp=seconds_to_time(t), frame_id="fake_optical")
                colour_pub.publish(numpy_to_image(rgb, "bgr8", header))
                info_pub.publish(intrinsics_to_camera_info(k, 64, 48, header))
                later = Header(stamp=seconds_to_time(t + 0.004), frame_id="fake_optical")
                depth_pub.publish(numpy_to_image(depth_mm, "16UC1", later))
                time.sleep(0.05)

        thread = threading.Thread(target=publish, daemon=True)
        thread.start()
        try:
            frame = frames("fake")
        finally:
            running.clear()
            thread.join()
            frames.close()
            driver.destroy_node()
            rclpy.shutdown(context=context)
    assert tuple(frame.rgb[0, 0]) == (0, 0, 200)
    assert frame.depth.dtype == np.float32 and frame.depth[0, 0] == 0.0
    np.testing.assert_allclose(frame.depth[:, 8:], 1.5)
    points = frame.base_points()
    assert len(points) == 48 * 56
    np.testing.assert_allclose(points[:, 2], 3.5, atol=1e-6)  # 1.5 m in front of a camera 2 m up
