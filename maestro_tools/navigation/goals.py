"""Checks of a NavigateBase goal's fields, before anything moves; no ROS imports."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from maestro_tools.common import validate
from maestro_tools.common.errors import InvalidArgumentError

BEHAVIORS = ("", "push")  # NavigateBase's behavior: plan around obstacles, or push straight through
MIN_SPEED = 0.1  # m/s: the least max_speed a goal may ask for (slower, turns stall in the deadband)


@dataclass(frozen=True)
class GoalSpec:
    position_tolerance: float  # m
    yaw_tolerance: float  # rad; < 0 = any heading
    timeout: float  # s
    push: bool = False  # behavior "push": straight through what is ahead
    speed_scale: float = 1.0  # (0, 1]: the goal's max_speed over the node's top speed


def check_goal(request: Any, defaults: Any) -> GoalSpec:
    """The goal's tolerances, timeout and speed limit (0 = the node's ``defaults``; a max_speed over the
    node's top speed gets the top speed); raises InvalidArgumentError naming the bad field. The pose itself
    must be finite with a unit quaternion; its frame is checked by TF."""
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
    max_speed = validate.number(
        "max_speed", request.max_speed, 0.0, 100.0, unit=" m/s", note="0 = the node's top speed"
    )
    if 0.0 < max_speed < MIN_SPEED:
        raise InvalidArgumentError(
            f"max_speed = {max_speed:g} m/s is below the least the base drives at; valid: 0 (the node's top "
            f"speed) or >= {MIN_SPEED:g} m/s"
        )
    top = defaults.follower.max_linear
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
        speed_scale=min(1.0, max_speed / top) if max_speed else 1.0,
    )
