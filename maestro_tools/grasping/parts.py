"""Grasps on the parts of an object, from its points (plain numpy): what box-aligned grasps miss.

Every generator takes the object's points in the base frame (z up; from its detection's mask and the
depth image, or a cloud) and returns ``GraspCandidate``s with their own ``strategy``, or an empty list
when the object has no such part:

- ``rim``: a hollow object (mug, cup, bowl) whose top is a ring: pinch its wall from above, the
  fingers across the wall (closing radially), one inside and one outside; spread around the ring,
  the ones away from a protrusion (the handle) first. Works however wide the object is.
- ``handle``: a thin part sticking out of the body (a mug's loop handle): pinch across it, closing
  tangentially, from above, tilted 45 degrees, or level from outside.
- ``flat``: a low object (an eraser): across its narrow side, at its middle and towards its ends,
  holding its middle height with the fingertips clear of its bottom face: the face, not the fingers,
  meets a surface the object is pressed on (wiping), and the object cannot pivot about low fingertips.
- ``cloth_corner``: a flat deformable (a towel, height under 2 cm): a low pinch just inside each
  corner of its footprint, closing across the corner's bisector, nearest the robot first.

An object too wide for the opening may still have a narrow top (a plush bear's head, a bottle's neck, a
knob): ``top_slice`` gives the box of its top band, which the node grasps as it grasps a box.

Part grasps start from a partly open gripper (``pregrasp_opening``): a finger goes inside a cup or
next to a handle where a fully open one would hit the far wall. Scores stay at or below 0.5 so a
box-aligned top-down grasp, where one fits, still ranks first when no strategy is asked for.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.grasping.top_down import GraspCandidate
from maestro_tools.perception.objects import box_pose, fit_sphere

PART_STRATEGIES = ("rim", "handle", "flat", "cloth_corner")
OPENING_MARGIN = 0.03  # m: a part grasp opens this much wider than the part before moving in
RING_BAND = 0.012  # m below the top whose points form the rim
PROTRUSION = 0.008  # m beyond the body's radius where a handle starts
FLAT_HEIGHT = 0.05  # m: flat objects are at most this high and no higher than their narrow side
FACE_MARGIN = 0.01  # m the fingertips stay above a flat object's bottom face (beyond the pad clearance)
CLOTH_HEIGHT = 0.02  # m: a cloth lies at most this high
CLOTH_INSET = 0.015  # m inside a cloth's corner where the fingers pinch
TOP_BAND = 0.04  # m below an object's top that a grasp on its narrow top holds
DOWN = np.array([0.0, 0.0, -1.0])


def top_slice(points: np.ndarray, band: float = TOP_BAND) -> tuple[np.ndarray, np.ndarray] | None:
    """Box (4x4 pose, extent) of the points within ``band`` of the object's top, or None when the band
    holds fewer than 10 points or is no narrower than the whole object."""
    points = _check(points)
    top = float(points[:, 2].max())
    upper = points[points[:, 2] >= top - band]
    if len(upper) < 10:
        return None
    pose, extent = box_pose(upper)
    whole = box_pose(points)[1]
    if min(extent[0], extent[1]) >= min(whole[0], whole[1]) - 0.005:
        return None
    return pose, extent


def pregrasp_opening(strategy: str, width: float, max_width: float) -> float:
    """How far the gripper opens before moving in: fully, except for part grasps (their width + margin)."""
    if strategy in PART_STRATEGIES:
        return float(min(max_width, width + OPENING_MARGIN))
    return float(max_width)


def _pose(position: np.ndarray, closing: np.ndarray, approach: np.ndarray = DOWN) -> np.ndarray:
    """TCP pose closing along ``closing`` (made normal to the approach), approaching along ``approach``;
    of the two equivalent yaws, the one with TCP x nearer base +x (the wrist nearer home)."""
    approach = approach / np.linalg.norm(approach)
    closing = closing - (closing @ approach) * approach
    closing /= np.linalg.norm(closing)
    x = np.cross(closing, approach)
    if x[0] < 0:
        x, closing = -x, -closing
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, closing, approach], axis=1)
    pose[:3, 3] = position
    return pose


def _check(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or not np.isfinite(points).all():
        raise InvalidArgumentError(f"part grasps need finite (N, 3) points; got shape {points.shape}")
    return points


def _body(points: np.ndarray) -> tuple[np.ndarray, float, float, float, float] | None:
    """The body's top ring: centre (xy), radius, fit residual, top and bottom heights; None if too few."""
    top, bottom = float(np.percentile(points[:, 2], 99)), float(points[:, 2].min())
    ring = points[points[:, 2] > top - RING_BAND]
    if len(ring) < 20:
        return None
    centre, radius, residual = fit_sphere(ring[:, :2])  # a circle: the points are 2D
    return centre, radius, residual, top, bottom


def _protrusion(points: np.ndarray, centre: np.ndarray, radius: float, bottom: float) -> np.ndarray:
    """Points standing out of the body's circle (a handle, a spout), off the support."""
    distance = np.linalg.norm(points[:, :2] - centre, axis=1)
    return points[(distance > radius + PROTRUSION) & (points[:, 2] > bottom + 0.005)]


def rim_grasps(
    points: np.ndarray, *, max_width: float, finger_depth: float, pad_clearance: float, count: int = 16
) -> list[GraspCandidate]:
    """Pinches of a hollow object's wall at its rim, best first; empty when its top is not a ring."""
    points = _check(points)
    body = _body(points)
    if body is None:
        return []
    centre, radius, residual, top, bottom = body
    ring = points[points[:, 2] > top - RING_BAND]
    distance = np.linalg.norm(ring[:, :2] - centre, axis=1)
    hollow = np.mean(distance < 0.5 * radius) < 0.05 and radius > 0.015 and residual < 0.25 * radius
    if not hollow or top - bottom < 0.02:
        return []
    wall = float(np.clip(np.percentile(distance, 90) - np.percentile(distance, 10), 0.003, 0.02))
    width = wall + 0.01
    if width > max_width:
        return []
    height = max(top - finger_depth, bottom + pad_clearance)
    sticking_out = _protrusion(points, centre, radius, bottom)
    away = None
    if len(sticking_out) >= max(5, 0.01 * len(points)):
        offset = np.mean(sticking_out[:, :2] - centre, axis=0)
        away = np.arctan2(offset[1], offset[0])
    candidates = []
    for angle in np.linspace(0.0, 2 * np.pi, count, endpoint=False):
        radial = np.array([np.cos(angle), np.sin(angle), 0.0])
        position = np.array([*(centre + radius * radial[:2]), height])
        # Away from a protrusion first (the hand clears it); without one, facing the robot's base.
        facing = -radial[:2] @ centre / max(np.linalg.norm(centre), 1e-9)
        score = 0.35 + 0.15 * ((1 - np.cos(angle - away)) / 2 if away is not None else (1 + facing) / 2)
        candidates.append(GraspCandidate(_pose(position, radial), width, float(score), "rim"))
    return sorted(candidates, key=lambda c: -c.score)


def handle_grasps(
    points: np.ndarray, *, max_width: float, finger_depth: float, pad_clearance: float
) -> list[GraspCandidate]:
    """Pinches across a thin part sticking out of the body (from above, tilted, level), best first."""
    points = _check(points)
    body = _body(points)
    if body is None:
        return []
    centre, radius, _, _, bottom = body
    handle = _protrusion(points, centre, radius, bottom)
    if len(handle) < max(5, 0.01 * len(points)):
        return []
    out = np.mean(handle[:, :2] - centre, axis=0)
    out = np.array([*out / np.linalg.norm(out), 0.0])
    across = np.array([-out[1], out[0], 0.0])
    along = (handle[:, :2] - centre) @ out[:2]
    side = handle[:, :2] @ across[:2]
    thickness = float(np.percentile(side, 95) - np.percentile(side, 5))
    width = thickness + 0.01
    if width > max_width or thickness > 0.5 * radius:  # a second body, not a handle
        return []
    reach = max(float(np.percentile(along, 95)) - 0.006, radius + PROTRUSION)
    grip = centre + reach * out[:2] + float(np.median(side) - centre @ across[:2]) * across[:2]
    low, high = np.percentile(handle[:, 2], [3, 97])
    middle = (low + high) / 2
    above = max(high - finger_depth, bottom + pad_clearance)
    tilted = -out + DOWN  # 45 degrees down, towards the body
    return [
        GraspCandidate(_pose(np.array([*grip, above]), across), width, 0.45, "handle"),
        GraspCandidate(_pose(np.array([*grip, middle]), across, tilted), width, 0.4, "handle"),
        GraspCandidate(_pose(np.array([*grip, middle]), across, -out), width, 0.35, "handle"),
    ]


def flat_grasps(
    points: np.ndarray,
    *,
    max_width: float,
    finger_depth: float,
    pad_clearance: float,
    finger_length: float = 0.045,
) -> list[GraspCandidate]:
    """Low pinches across a flat object's narrow side (centre, then towards the ends); empty if not flat."""
    points = _check(points)
    if len(points) < 10:
        return []
    pose, extent = box_pose(points)
    narrow_axis = int(np.argmin(extent[:2]))
    narrow, long = float(extent[narrow_axis]), float(extent[1 - narrow_axis])
    height = float(extent[2])
    if height > FLAT_HEIGHT or height > narrow or narrow + 0.01 > max_width or height < 0.004:
        return []
    bottom, top = pose[2, 3] - height / 2, pose[2, 3] + height / 2
    # Low enough for the pads to hold most of it, never above its middle; the fingertips clear of its face.
    lowest = max(bottom + pad_clearance, top - finger_length + 0.005, top - max(finger_depth, height))
    z = max(lowest, min(bottom + pad_clearance + FACE_MARGIN, pose[2, 3]))
    closing, lengthwise = pose[:3, narrow_axis], pose[:3, 1 - narrow_axis]
    offsets = [0.0, 0.25 * long, -0.25 * long] if long > 0.06 else [0.0]
    return [
        GraspCandidate(
            _pose(np.array([*(pose[:2, 3] + shift * lengthwise[:2]), z]), closing),
            narrow + 0.01,
            0.45 if shift == 0.0 else 0.35,
            "flat",
        )
        for shift in offsets
    ]


def cloth_corner_grasps(
    points: np.ndarray, *, max_width: float, pad_clearance: float
) -> list[GraspCandidate]:
    """Low pinches just inside each corner of a flat deformable's footprint, nearest the base first."""
    points = _check(points)
    if len(points) < 20:
        return []
    low, high = np.percentile(points[:, 2], [2, 98])
    pose, extent = box_pose(points)
    if high - low > CLOTH_HEIGHT or min(extent[:2]) < 0.06:
        return []
    centre = pose[:2, 3]
    width = min(max_width, 0.04)
    candidates = []
    for sx, sy in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        corner = centre + sx * extent[0] / 2 * pose[:2, 0] + sy * extent[1] / 2 * pose[:2, 1]
        tip = points[np.argmin(np.linalg.norm(points[:, :2] - corner, axis=1)), :2]
        inward = centre - tip
        inward /= np.linalg.norm(inward)
        grip = tip + CLOTH_INSET * inward
        # The pads close at the cloth's surface: the fingertips touch the table, as a hand pinches cloth.
        position = np.array([*grip, low + pad_clearance / 2])
        candidates.append(
            (float(np.linalg.norm(grip)), _pose(position, np.array([-inward[1], inward[0], 0.0])))
        )
    candidates.sort(key=lambda c: c[0])
    return [
        GraspCandidate(pose, width, 0.5 - 0.05 * k, "cloth_corner") for k, (_, pose) in enumerate(candidates)
    ]


def part_grasps(
    points: np.ndarray,
    *,
    max_width: float,
    finger_depth: float,
    pad_clearance: float,
    strategies: tuple[str, ...] = PART_STRATEGIES,
) -> list[GraspCandidate]:
    """Every part grasp the object's points allow among ``strategies``, best first."""
    unknown = [s for s in strategies if s not in PART_STRATEGIES]
    if unknown:
        raise InvalidArgumentError(f"unknown part strategies {unknown}; valid: {', '.join(PART_STRATEGIES)}")
    common = {"max_width": max_width, "pad_clearance": pad_clearance}
    generators: dict[str, Callable[[], list[GraspCandidate]]] = {
        "rim": lambda: rim_grasps(points, finger_depth=finger_depth, **common),
        "handle": lambda: handle_grasps(points, finger_depth=finger_depth, **common),
        "flat": lambda: flat_grasps(points, finger_depth=finger_depth, **common),
        "cloth_corner": lambda: cloth_corner_grasps(points, **common),
    }
    found = [c for name in strategies for c in generators[name]()]
    return sorted(found, key=lambda c: -c.score)
