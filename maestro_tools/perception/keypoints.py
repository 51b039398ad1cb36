"""Geometric keypoints: "the top of the red block", "the left side of the bowl" -> 3D points (plain numpy).

A description names an object (matched like detector labels) and optionally a part before "of":
centre, top, bottom, left, right, front, back (seen from the robot: front = nearest the robot, along
-x; left = +y). The part is the centroid of the object's points within 1 cm of the extreme in that
direction (the box centre for "centre"), so it lies on the visible surface.

``sim_keypoints`` (the ``sim`` backend: simulator truth, a privileged option for simulation only) adds
named parts: the simulator's named sites, exact points such as "mug/handle", "stand/peg_tip" or "lower
door/hinge" ("the handle of the mug"), and answers geometric parts as above. A part neither knows is
refused with the parts it does know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError, NoDataError, NotFoundError
from maestro_tools.perception.objects import CameraFrame, detect_objects, match_label, visible_labels

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


NAMED_PARTS_HINT = (
    "This keypointer knows geometric parts only; named parts (a handle, a hinge, a peg's tip) need its VLM "
    "backend (vlm:=gemini or openai) or the simulator's truth (backend sim), or point at the part yourself: "
    "perception.zoom on it, then perception.point_at_pixel(u, v, camera)"
)
NEAR_OBJECT = 0.05  # m: a named part belongs to an object when it lies this close to the object's points


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
            f"unknown part {part!r} in {description!r}; geometric parts: {', '.join(PARTS)}. "
            + NAMED_PARTS_HINT
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


def _split(description: str) -> tuple[str, str]:
    """("handle", "mug") for "the handle of the mug"; ("", text) without "of"."""
    text = re.sub(r"\s+", " ", re.sub(r"\bthe\b", " ", description.lower())).strip()
    if " of " not in text:
        return "", text
    part, target = (s.strip() for s in text.split(" of ", 1))
    return _SYNONYMS.get(part, part), target


def _asked(text: str) -> set[str]:
    """The words of a request, with the singular of plurals ("corners" asks for "corner" too)."""
    words = _words(text)
    return words | {w[:-1] for w in words if len(w) > 3 and w.endswith("s") and not w.endswith("ss")}


def _named_parts(frame: CameraFrame) -> str:
    return ", ".join(name for name in frame.sites if "/" in name) or "none"


def named_part(frame: CameraFrame, part: str, target: str, count: int = 1) -> list[GeometricKeypoint]:
    """The named sites ``<owner>/<part>`` whose part shares words with ``part``, on the object ``target``,
    best first. A target that is a visible object owns the sites lying on it (within NEAR_OBJECT of its
    points: "the handle of the blue cup" is "mug/handle"); any other target owns the sites whose names
    share its words ("the tip of the peg": "stand/peg_tip"; "the hinge of the lower door")."""
    wanted, target_words = _asked(part), _asked(target)
    ranked = []  # (-target words in the name, -part words shared, part words left over, name)
    for name in frame.sites:
        piece = name.partition("/")[2]
        if piece and _words(piece) & wanted:
            key = (
                -len(_words(name) & target_words),
                -len(_words(piece) & wanted),
                len(_words(piece) - wanted),
            )
            ranked.append((*key, name))
    visible = visible_labels(frame) if frame.instances is not None else []
    seen = match_label(target, visible)
    if seen is not None:
        points = detect_objects(frame, [seen])[0].points

        def on_object(name: str) -> bool:
            return (
                bool(len(points)) and np.linalg.norm(points - frame.sites[name], axis=1).min() < NEAR_OBJECT
            )

        owned = [key for key in ranked if on_object(key[-1])]
    else:
        owned = [key for key in ranked if key[0] < 0]
    if owned:
        return [
            GeometricKeypoint(name, seen or name.partition("/")[0], frame.sites[name].copy())
            for *_, name in sorted(owned)[: max(1, count)]
        ]
    if seen is None and not any(_words(name) & target_words for name in frame.sites):
        raise NotFoundError(
            f"no {target!r} in the {frame.camera} camera; visible: {', '.join(visible) or 'nothing'}; "
            f"named parts in this scene: {_named_parts(frame)}"
        )
    raise InvalidArgumentError(
        f"no part {part!r} known on {target!r}; this keypointer knows the geometric parts of any object "
        f"({', '.join(PARTS)}) and the named parts in this scene: {_named_parts(frame)}"
    )


def sim_keypoints(frame: CameraFrame, description: str, count: int = 1) -> list[GeometricKeypoint]:
    """The sim backend (simulator truth): geometric parts of a segmented object ("the top of the bowl"),
    named parts ("the handle of the mug", "the tip of the peg"), or a site or object by its words ("the
    mug handle", "the towel's front left corner")."""
    part, target = _split(description)
    if part in PARTS:
        return [keypoint(frame, description)]
    if part:
        return named_part(frame, part, target, count)
    return site_keypoints(frame, description, count)
