"""Geometric keypoints: "the top of the red block", "the left side of the bowl" -> 3D points (plain numpy).

A description names an object (matched like detector labels) and optionally a part before "of":
centre, top, bottom, left, right, front, back (seen from the robot: front = nearest the robot, along
-x; left = +y). The part is the centroid of the object's points within 1 cm of the extreme in that
direction (the box centre for "centre"), so it lies on the visible surface.

``site_keypoints`` (the ``sim`` backend, for tests) answers from the simulator's named sites instead:
exact points such as "mug/handle" or "lower door/hinge", matched to the description by words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError, NoDataError, NotFoundError
from maestro_tools.perception.objects import CameraFrame, detect_objects

DIRECTIONS = {
    "top": np.array([0.0, 0.0, 1.0]),
    "bottom": np.array([0.0, 0.0, -1.0]),
    "left": np.array([0.0, 1.0, 0.0]),
    "right": np.array([0.0, -1.0, 0.0]),
    "front": np.array([-1.0, 0.0, 0.0]),
    "back": np.array([1.0, 0.0, 0.0]),
}
PARTS = ("centre", *DIRECTIONS)
_SYNONYMS = {
    "center": "centre",
    "middle": "centre",
    "highest point": "top",
    "near side": "front",
    "far side": "back",
    "left side": "left",
    "right side": "right",
    "top surface": "top",
}


@dataclass(frozen=True)
class GeometricKeypoint:
    label: str
    object_label: str
    position: np.ndarray  # (3,) base frame


def parse_description(description: str) -> tuple[str, str]:
    """``"the top of the red block"`` -> ``("top", "red block")``; no part means the centre."""
    text = re.sub(r"\bthe\b", " ", description.lower()).strip()
    text = re.sub(r"\s+", " ", text)
    if not text:
        raise InvalidArgumentError(f"describe a point like 'the top of the bowl'; parts: {', '.join(PARTS)}")
    if " of " not in text:
        return "centre", text
    part, target = (s.strip() for s in text.split(" of ", 1))
    part = _SYNONYMS.get(part, part)
    if part not in PARTS:
        raise InvalidArgumentError(
            f"unknown part {part!r} in {description!r}; geometric parts: {', '.join(PARTS)}"
        )
    return part, target


def keypoint(frame: CameraFrame, description: str) -> GeometricKeypoint:
    part, target = parse_description(description)
    detection = detect_objects(frame, [target])[0]
    if not detection.has_3d:
        raise NoDataError(f"no depth on {target!r} in the {frame.camera} camera; try the other camera")
    points = detection.points
    if part == "centre":
        position = detection.pose[:3, 3].copy()
    else:
        along = points @ DIRECTIONS[part]
        position = points[along >= along.max() - 0.01].mean(axis=0)
    return GeometricKeypoint(label=description, object_label=detection.label, position=position)


_FILLER = {"the", "of", "a", "an", "on", "at", "to", "its", "side", "part", "point"}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower())) - _FILLER


def site_keypoints(frame: CameraFrame, description: str, count: int = 1) -> list[GeometricKeypoint]:
    """The simulator's named sites best matching ``description`` by shared words, best first: most
    words shared, then fewest of the site's words left over, then whole objects before their parts
    ("the mug" is the mug, "the handle of the mug" is "mug/handle")."""
    wanted = _words(description)
    if not wanted:
        raise InvalidArgumentError(
            f"describe a point like 'the handle of the mug'; sites: {', '.join(frame.sites)}"
        )
    ranked = []
    for name in frame.sites:
        words = _words(name)
        shared = len(words & wanted)
        if shared:
            ranked.append(((-shared, len(words - wanted), "/" in name), name))
    if not ranked:
        raise NotFoundError(
            f"no named site matches {description!r}; sites in this scene: {', '.join(frame.sites) or 'none'}"
        )
    return [
        GeometricKeypoint(label=name, object_label=name.split("/")[0], position=frame.sites[name].copy())
        for _, name in sorted(ranked)[: max(1, count)]
    ]
