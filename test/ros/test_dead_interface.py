"""A tool whose robot interface is not running says so, instead of a bare "no frame"."""

from __future__ import annotations

import pytest
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from maestro_tools.common.errors import NoDataError
from maestro_tools.perception.topic_source import TopicFrameSource
from test.ros.helpers import ros_graph, unique


def test_a_camera_nobody_publishes_names_the_missing_interface() -> None:
    with ros_graph(lambda c: Node(unique("frames_probe"), namespace="/nowhere", context=c)) as (node,):
        frames = TopicFrameSource(
            node, ReentrantCallbackGroup(), ["scene"], 0.5, on_demand=True, base_frame="base"
        )
        with pytest.raises(NoDataError) as caught:
            frames.grab("scene")
    message = str(caught.value)
    assert "no frame from the scene camera within 0.5 s" in message
    assert "nothing publishes /nowhere/scene_camera/" in message and "robot interface" in message
