"""Where the closed fingers go to slide an object along what it stands on (plain numpy), for
``skills.push``.

The hand points down with its fingers closing along the push: across the path the hand is at its
narrowest (6.4 cm on the Panda, not its 21 cm along the fingers), so it goes down into a gap beside a
tall neighbour. The fingertips go down beside the object's face, a little above its bottom (low, so it
slides rather than tips; high enough that the hand's underside clears its top), and travel in strokes:
motion's contact mode lets the fingers reach only a few centimetres into what the camera saw, and it
looks again before every stroke.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from maestro_agent.proxy.hand_geometry import size_along, top_down, unit
from maestro_agent.proxy.types import Detection
from maestro_tools.common.errors import InvalidArgumentError

STROKE = 0.03  # m the fingers travel per straight move
GAP = 0.015  # m between the fingers and the object's face where they go down (seen boxes come out short)
LOW = 0.008  # m, the lowest the fingertips push above the object's bottom (the table's contact stays off)
LOW_FRACTION = 0.3  # of the object's height, where the fingertips push (a low push slides, a high one tips)
TOP_CLEARANCE = 0.005  # m between the hand's underside and the object's top
MAX_DISTANCE = 0.15  # m one push may move an object
PUSH_OPENING = 0.004  # m between the fingers as they push: shut by position, not closed with a force
PUSH_ROUNDS = 3  # pushes from where the object is seen, until it is within PUSH_TOLERANCE of the distance
PUSH_TOLERANCE = 0.01  # m


@dataclass(frozen=True)
class PushPlan:
    hand: np.ndarray  # (3, 3) top-down, fingers closing along the push
    start: np.ndarray  # (3,) TCP where the fingers go down beside the object
    strokes: list[np.ndarray]  # TCP at the end of each stroke, the last ``distance`` past the object's face
    direction: np.ndarray  # (3,) horizontal unit vector of the push
    give: float  # m the fingers may stop above ``start`` and still meet the object's side, not its top


def horizontal(direction: object) -> np.ndarray:
    """A horizontal unit vector from [dx, dy] or [dx, dy, dz] (dz is dropped), or InvalidArgumentError."""
    try:
        values = np.asarray(direction, dtype=float).ravel()
    except (TypeError, ValueError):
        values = np.zeros(0)
    if values.size not in (2, 3) or not np.isfinite(values).all() or np.linalg.norm(values[:2]) < 1e-6:
        raise InvalidArgumentError(
            f"direction must be a horizontal [dx, dy] (or [dx, dy, dz]) in the base frame, not zero; "
            f"got {direction!r}"
        )
    return unit(np.array([values[0], values[1], 0.0]))


def check_distance(distance: object) -> float:
    """``distance`` as a float within 0.01..MAX_DISTANCE metres, or InvalidArgumentError."""
    try:
        value = float(distance)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.01 <= value <= MAX_DISTANCE:
        raise InvalidArgumentError(f"distance must be 0.01..{MAX_DISTANCE} m; got {distance!r}")
    return value


def push_plan(
    detection: Detection, direction: object, distance: float, tips: float, reach: float, underside: float
) -> PushPlan:
    """How to push ``detection`` by ``distance`` metres along ``direction``. The gripper: ``tips``, how far
    the fingertips reach past the TCP; ``reach``, how far the closed fingers reach along the closing
    axis; ``underside``, how far above the TCP the hand's underside is."""
    check_distance(distance)
    way = horizontal(direction)
    height = size_along(detection, np.array([0.0, 0.0, 1.0]))
    bottom = float(detection.position[2]) - height / 2
    tip = bottom + min(max(LOW_FRACTION * height, LOW), height / 2)
    tip = max(tip, bottom + height + TOP_CLEARANCE - tips - underside)  # the hand passes over its top
    start = np.asarray(detection.position, dtype=float).copy()
    start -= way * (size_along(detection, way) / 2 + reach + GAP)
    start[2] = tip + tips
    travel = GAP + float(distance)
    count = int(np.ceil(travel / STROKE - 1e-9))
    strokes = [start + way * travel * (k + 1) / count for k in range(count)]
    give = float(np.clip((bottom + height - tip) / 2, 0.003, 0.01))
    return PushPlan(top_down(way), start, strokes, way, give)
