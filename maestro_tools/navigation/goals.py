"""Checks of a NavigateBase goal's fields, before anything moves; no ROS imports."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from maestro_tools.common import validate
from maestro_tools.common.errors import InvalidArgumentError

BEHAVIORS = ("", "push")  # NavigateBase's behavior: plan around obstacles, or push straight through


@dataclass(frozen=True)
class GoalSpec:
    position_tolerance: float  # m
    yaw_tolerance: float  # rad; < 0 = any heading
    timeout: float  # s
    push: bool = False  # behavior "push": straight through what is ahead


def check_goal(request: Any, defaults: Any) -> GoalSpec:
    """The goal's tolerances and timeout (0 = the node's ``defaults``); raises InvalidArgumentError naming
    the bad field. The pose itself must be finite with a unit quaternion; its frame is checked by TF."""
    validate.pose("goal.pose", request.goal.pose)
    validate.text("goal.header.frame_id", request.goal.header.frame_id, validate.NAME_LIMIT)
    position = validate.number(
        "position_tolerance", request.position_tolerance, 0.0, 10.0, unit=" m", note="0 = the node's default"
    )
    yaw = validate.number(
        "yaw_tolerance", request.yaw_tolerance, note="0 = the node's default; < 0 = any heading"
    )
    timeout = validate.number(
        "timeout", request.timeout, 0.0, 3600.0, unit=" s", note="0 = the node's default"
    )
    behavior = validate.text("behavior", request.behavior, validate.NAME_LIMIT)
    if behavior not in BEHAVIORS:
        raise InvalidArgumentError(
            f"behavior = {behavior!r} is unknown; valid: {', '.join(map(repr, BEHAVIORS))}"
        )
    if yaw > math.pi:
        raise InvalidArgumentError(
            f"yaw_tolerance = {yaw:g} rad is over pi; valid: (0, pi], 0 = default, < 0 = any"
        )
    return GoalSpec(
        position_tolerance=position or defaults.position_tolerance,
        yaw_tolerance=yaw if yaw != 0 else defaults.yaw_tolerance,
        timeout=timeout or defaults.timeout,
        push=behavior == "push",
    )
