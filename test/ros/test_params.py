"""Parameter helpers: descriptions, ranges and choices, enforced at start-up and on later sets."""

from __future__ import annotations

import pytest
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.common.params import declare
from test.ros.helpers import ros_graph, unique


def make(context: Context, overrides: list[Parameter] | None = None) -> Node:
    return Node(unique("params"), context=context, parameter_overrides=overrides or [])


def test_declare_with_description_range_and_choices() -> None:
    with ros_graph(make) as (node,):
        speed = declare(node, "speed", 0.5, "Arm speed scaling", minimum=0.0, maximum=1.0, read_only=False)
        backend = declare(
            node, "backend", "sim", "Detector backend", choices=("sim", "geometric"), read_only=False
        )
        declare(node, "camera", "scene", "Read at start-up")  # the default: read-only
        assert (speed, backend) == (0.5, "sim")
        descriptor = node.describe_parameter("speed")
        assert descriptor.description == "Arm speed scaling"
        assert descriptor.floating_point_range[0].to_value == 1.0
        assert "one of: sim, geometric" in node.describe_parameter("backend").additional_constraints
        rejected = node.set_parameters([Parameter("backend", value="yolo")])[0]
        assert not rejected.successful and "one of sim, geometric" in rejected.reason
        assert not node.set_parameters([Parameter("speed", value=2.0)])[0].successful
        assert node.set_parameters([Parameter("backend", value="geometric")])[0].successful
        assert not node.set_parameters([Parameter("camera", value="wrist")])[0].successful
        assert node.describe_parameter("camera").read_only


def test_bad_start_up_value_raises_naming_the_choices() -> None:
    with (
        ros_graph(lambda c: make(c, [Parameter("backend", value="yolo")])) as (node,),
        pytest.raises(InvalidArgumentError, match="must be one of sim, geometric; got 'yolo'"),
    ):
        declare(node, "backend", "sim", "Detector backend", choices=("sim", "geometric"))
