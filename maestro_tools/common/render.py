"""Draw what a tool saw onto the camera image, so a VLM (or a person) can check it.

Detections as labelled boxes and mask outlines, points as labelled markers, grasps as gripper
outlines projected from the base frame into the camera. Plain numpy + OpenCV; every function
returns a new RGB image and leaves its input untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from maestro_tools.common.conversions import project_points
from maestro_tools.common.errors import InvalidArgumentError

PALETTE = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
)
FONT = cv2.FONT_HERSHEY_SIMPLEX
# One colour per grasp strategy, so a drawing of mixed candidates shows which kind each is.
STRATEGY_COLOURS = {
    "top_down": (0, 130, 200),
    "antipodal": (145, 30, 180),
    "rim": (230, 25, 75),
    "handle": (245, 130, 48),
    "flat": (60, 180, 75),
    "cloth_corner": (240, 50, 230),
}


def strategy_colour(strategy: str, index: int = 0) -> tuple[int, int, int]:
    """The colour drawn for a grasp ``strategy``; an unknown one takes the palette's ``index``-th."""
    return STRATEGY_COLOURS.get(strategy, colour(index))


def colour(index: int) -> tuple[int, int, int]:
    return PALETTE[index % len(PALETTE)]


def _check(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidArgumentError(f"expected an (H, W, 3) uint8 RGB image; got {image.shape} {image.dtype}")
    return np.ascontiguousarray(image.copy())


def _label(image: np.ndarray, text: str, origin: tuple[int, int], rgb: tuple[int, int, int]) -> None:
    (width, height), _ = cv2.getTextSize(text, FONT, 0.5, 1)
    x, y = max(0, origin[0]), max(height + 4, origin[1])
    cv2.rectangle(image, (x, y - height - 4), (x + width + 4, y), rgb, -1)
    cv2.putText(image, text, (x + 2, y - 3), FONT, 0.5, (255, 255, 255), 1, cv2.LINE_AA)


def project(
    points: np.ndarray, intrinsics: np.ndarray, camera_pose: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Base-frame points (N, 3) -> pixels (N, 2) and a mask of those in front of the camera."""
    pixels, depth = project_points(points, intrinsics, camera_pose)
    return pixels, depth > 1e-3


def draw_detections(
    image: np.ndarray,
    labels: Sequence[str],
    boxes: Sequence[Sequence[int]],
    masks: Sequence[np.ndarray | None] | None = None,
    scores: Sequence[float] | None = None,
) -> np.ndarray:
    """Boxes (x, y, w, h) with their labels (and scores), mask outlines where given."""
    out = _check(image)
    for k, (label, box) in enumerate(zip(labels, boxes, strict=True)):
        rgb = colour(k)
        mask = masks[k] if masks is not None else None
        if mask is not None and mask.any():
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, rgb, 2)
        x, y, w, h = (int(v) for v in box)
        cv2.rectangle(out, (x, y), (x + w, y + h), rgb, 2)
        text = f"{label} {scores[k]:.2f}" if scores is not None else label
        _label(out, text, (x, y), rgb)
    return out


def draw_points(image: np.ndarray, pixels: Sequence[Sequence[float]], labels: Sequence[str]) -> np.ndarray:
    """Labelled cross-hair markers at pixel positions (u, v)."""
    out = _check(image)
    for k, ((u, v), label) in enumerate(zip(pixels, labels, strict=True)):
        rgb, centre = colour(k), (int(round(u)), int(round(v)))
        cv2.circle(out, centre, 7, rgb, 2)
        cv2.drawMarker(out, centre, rgb, cv2.MARKER_CROSS, 18, 2)
        _label(out, label, (centre[0] + 9, centre[1] - 9), rgb)
    return out


def gripper_outline(pose: np.ndarray, width: float, finger_length: float = 0.045) -> list[np.ndarray]:
    """Line segments (base frame) of a parallel gripper at TCP ``pose`` opened to ``width``."""
    origin, x, y, z = pose[:3, 3], pose[:3, 0], pose[:3, 1], pose[:3, 2]
    half = y * width / 2
    back = origin - z * finger_length
    return [
        np.array([back + half, origin + half]),
        np.array([back - half, origin - half]),
        np.array([back + half, back - half]),
        np.array([back, back - z * 0.06]),
        np.array([origin - x * 0.01, origin + x * 0.01]),
    ]


def draw_grasps(
    image: np.ndarray,
    poses: Sequence[np.ndarray],
    widths: Sequence[float],
    intrinsics: np.ndarray,
    camera_pose: np.ndarray,
    labels: Sequence[str] | None = None,
    colours: Sequence[tuple[int, int, int]] | None = None,
) -> np.ndarray:
    """Gripper outlines at each grasp, projected into the camera; the first (best) drawn thickest. Each in
    ``colours[k]`` when given (e.g. ``strategy_colour`` of its strategy), else the palette's k-th."""
    out = _check(image)
    for k, (pose, width) in enumerate(zip(poses, widths, strict=True)):
        rgb = colours[k] if colours is not None else colour(k)
        for segment in gripper_outline(np.asarray(pose), float(width)):
            pixels, in_front = project(segment, intrinsics, camera_pose)
            if in_front.all():
                a, b = (tuple(int(round(c)) for c in p) for p in pixels)
                cv2.line(out, a, b, rgb, 3 if k == 0 else 1, cv2.LINE_AA)
        if labels is not None and labels[k]:  # an empty label: the outline only
            pixel, in_front = project(pose[:3, 3], intrinsics, camera_pose)
            if in_front[0]:
                _label(out, labels[k], (int(pixel[0, 0]) + 8, int(pixel[0, 1]) + 8), rgb)
    return out
