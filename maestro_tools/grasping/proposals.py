"""Which grasps the planner proposes for an object, and the fallback to its narrow top (plain numpy).

``box_grasps`` are the whole object's: top-down across its box (centred, and shifted along an elongated
box's long side), and tilted where the arm's profile lists grasp tilts. ``narrow_top_grasps`` hold only
its top band (a plush bear's head, a bottle's neck), ranked below part grasps. ``proposals`` ranks
everything a request may use: the whole object's box grasps, else its narrow top's (an object too wide
for the opening), antipodal grasps on a cloud, and part grasps on the points seen. ``usable_or_narrow``
keeps what the scene and the arm allow, and falls back to the narrow top when none of the whole object's
grasps is usable: a bear on the floor whose narrow side faces the arm is only grasped across it from
beside it, out of reach, but its round head can be held tilted from where the arm is (measured: 3 of 3
such head grasps lifted the bear in the house).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

import numpy as np

from maestro_tools.common.errors import CollisionError
from maestro_tools.grasping.antipodal import antipodal_grasps
from maestro_tools.grasping.parts import part_grasps, top_slice
from maestro_tools.grasping.tilted import tilted_grasps
from maestro_tools.grasping.top_down import GraspCandidate, checked_object, top_down_grasps
from maestro_tools.robots.profile import ArmSpec, GripperSpec

NARROW_TOP_SCORE = 0.4  # factor on a narrow top's box-grasp scores: below the part grasps'
OFF_CENTRE_SCORE = 0.6  # factor on a grasp shifted along the object's long side: after the centred ones
END_MARGIN = 0.005  # m: a shifted grasp's pads stay this far inside the object's end
MIN_SHIFT = 0.01  # m: shorter shifts are no other grasp

T = TypeVar("T")


def box_grasps(
    pose: np.ndarray, extent: np.ndarray, max_width: float, gripper: GripperSpec, arm: ArmSpec
) -> list[GraspCandidate]:
    """Top-down grasps on the object's box (centred, then shifted along an elongated box's long side), and
    the tilted ones the arm's profile asks for, best first."""
    depth, pads = gripper.finger_depth, gripper.pad_clearance
    candidates = top_down_grasps(pose, extent, max_width, depth, pads, down_yaw=arm.down_yaw)
    candidates += off_centre_grasps(candidates, pose, extent, pad_half_width(gripper))
    if arm.grasp_tilts:
        candidates += tilted_grasps(pose, extent, max_width, depth, pads, arm.grasp_tilts, arm.down_yaw)
    return sorted(candidates, key=lambda c: -c.score)


def pad_half_width(gripper: GripperSpec) -> float:
    """Half a finger pad's width along the TCP x axis (the gripper's first volume, a finger), or 1 cm."""
    if not gripper.volumes:
        return 0.01
    low, high = gripper.volumes[0]
    return (high[0] - low[0]) / 2


def off_centre_grasps(
    centred: Sequence[GraspCandidate], pose: np.ndarray, extent: np.ndarray, pad_half: float
) -> list[GraspCandidate]:
    """The top-down grasps across an elongated box's long side, shifted each way along it as far as keeps
    the pads END_MARGIN inside its ends: where the hand over the middle would come too near a neighbour
    (a tall carton beside a pudding box), over one end it may not."""
    pose, extent = checked_object(pose, extent)
    along = pose[:3, int(np.argmax(extent[:2]))].copy()
    along[2] = 0.0
    if np.linalg.norm(along) < 1e-6:
        return []
    along /= np.linalg.norm(along)
    shift = float(np.max(extent[:2])) / 2 - pad_half - END_MARGIN
    if shift < MIN_SHIFT:
        return []
    shifted = []
    for grasp in centred:
        if grasp.strategy != "top_down" or abs(float(grasp.pose[:3, 1] @ along)) > 0.1:
            continue  # closing along the long side, not across it
        for sign in (1.0, -1.0):
            moved = grasp.pose.copy()
            moved[:3, 3] += sign * shift * along
            shifted.append(replace(grasp, pose=moved, score=OFF_CENTRE_SCORE * grasp.score))
    return shifted


def narrow_top_grasps(
    points: np.ndarray, max_width: float, gripper: GripperSpec, arm: ArmSpec
) -> list[GraspCandidate]:
    """Box grasps on the object's narrow top (``top_slice``); none when its top is no narrower."""
    top = top_slice(points)
    if top is None:
        return []
    return [replace(c, score=NARROW_TOP_SCORE * c.score) for c in box_grasps(*top, max_width, gripper, arm)]


def proposals(
    whole: Sequence[GraspCandidate],
    narrow: Sequence[GraspCandidate],
    cloud: np.ndarray | None,
    seen: np.ndarray | None,
    max_width: float,
    gripper: GripperSpec,
    antipodal_samples: int = 0,
) -> list[GraspCandidate]:
    """Every grasp proposed, best first: the ``whole`` object's (else its ``narrow`` top's), antipodal
    ones on a ``cloud`` (``antipodal_samples`` > 0), and the parts' (rim, handle, flat, cloth corner) on
    the points ``seen`` (None: no part grasps)."""
    candidates = list(whole or narrow)
    if cloud is not None and antipodal_samples > 0:
        candidates += antipodal_grasps(
            cloud, samples=antipodal_samples, max_width=max_width, pad_clearance=gripper.pad_clearance
        )
    if seen is not None:
        candidates += part_grasps(
            seen, max_width=max_width, finger_depth=gripper.finger_depth, pad_clearance=gripper.pad_clearance
        )
    return sorted(candidates, key=lambda c: -c.score)


def usable_or_narrow(
    candidates: list[GraspCandidate],
    whole: Sequence[GraspCandidate],
    narrow: list[GraspCandidate],
    usable: Callable[[list[GraspCandidate]], list[T]],
) -> list[T]:
    """``usable(candidates)``; when that leaves none and the candidates held the whole object, the narrow
    top's usable grasps instead. ``usable`` raises CollisionError when every grasp it is given would hit
    the scene: raised again if the narrow top gives nothing either."""
    blocked: CollisionError | None = None
    try:
        grasps = usable(candidates)
    except CollisionError as exc:
        grasps, blocked = [], exc
    if not grasps and whole and narrow:
        with contextlib.suppress(CollisionError):
            grasps = usable(narrow)
    if not grasps and blocked is not None:
        raise blocked
    return grasps
