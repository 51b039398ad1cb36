"""From a labelled segmentation and depth to detections with 2D boxes, masks and 3D poses (plain numpy).

A ``CameraFrame`` is what one camera saw at one instant. ``detect_objects`` matches requested labels
to the instances in the frame (exact, then by words: "ball" finds "tennis ball"), and lifts each mask
to base-frame points with the depth, the intrinsics and the camera pose. The 3D pose is the centre of
the points' minimum-area horizontal box, with a canonical yaw (``box_pose``); extent is the box size.
Points that lie on a ball's top and sides give the ball's own box instead (``sphere_box``): a camera
sees only the near half, whose box is short of the far side by up to half the radius.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from maestro_tools.common.conversions import depth_to_points, transform_points
from maestro_tools.common.errors import NoDataError, NotFoundError

NOT_OBJECTS = {"background", "table", "robot"}


@dataclass(frozen=True)
class CameraFrame:
    camera: str
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres
    instances: np.ndarray | None  # (H, W) int32 instance ids, 0 = background; None without segmentation
    labels: dict[int, str]  # instance id -> label
    intrinsics: np.ndarray  # 3x3
    camera_pose: np.ndarray  # 4x4 optical frame in base
    stamp: float
    sites: dict[str, np.ndarray] = field(default_factory=dict)  # named ground-truth points (simulator)

    def base_points(self, mask: np.ndarray | None = None) -> np.ndarray:
        """The valid depth pixels (inside ``mask`` when given) as (N, 3) points in the base frame."""
        points = depth_to_points(self.depth, self.intrinsics, mask)
        return transform_points(points, self.camera_pose[:3, :3], self.camera_pose[:3, 3])


@dataclass(frozen=True)
class ObjectDetection:
    label: str
    instance_id: int
    score: float
    box: tuple[int, int, int, int]  # x, y, width, height in pixels
    mask: np.ndarray  # (H, W) bool
    points: np.ndarray  # (N, 3) base-frame points of the mask with valid depth
    pose: np.ndarray  # 4x4: box centre, z up, canonical yaw (box_pose)
    extent: np.ndarray  # (3,) metres along the pose's axes

    @property
    def has_3d(self) -> bool:
        return len(self.points) >= 3


def lift_point(frame: CameraFrame, pixel: tuple[float, float], window: int = 2) -> np.ndarray:
    """Base-frame position at pixel (u, v): the median depth of a small window; NaN without depth."""
    u, v = int(round(pixel[0])), int(round(pixel[1]))
    height, width = frame.depth.shape
    if not (0 <= u < width and 0 <= v < height):
        return np.full(3, np.nan)
    patch = frame.depth[max(0, v - window) : v + window + 1, max(0, u - window) : u + window + 1]
    valid = patch[np.isfinite(patch) & (patch > 0)]
    if valid.size == 0:
        return np.full(3, np.nan)
    z = float(np.median(valid))
    k = frame.intrinsics
    camera = np.array([(u - k[0, 2]) * z / k[0, 0], (v - k[1, 2]) * z / k[1, 1], z])
    return frame.camera_pose[:3, :3] @ camera + frame.camera_pose[:3, 3]


def nearest_depth_pixel(
    frame: CameraFrame, pixel: tuple[float, float], radius: int = 30
) -> tuple[int, int] | None:
    """The pixel (u, v) with a depth reading nearest to ``pixel`` within ``radius``; None without one."""
    u, v = int(round(pixel[0])), int(round(pixel[1]))
    top, left = max(0, v - radius), max(0, u - radius)
    patch = frame.depth[top : v + radius + 1, left : u + radius + 1]
    rows, cols = np.nonzero(np.isfinite(patch) & (patch > 0))
    if not len(rows):
        return None
    best = int(np.argmin((rows + top - v) ** 2 + (cols + left - u) ** 2))
    return int(cols[best] + left), int(rows[best] + top)


def visible_labels(frame: CameraFrame, min_pixels: int = 20) -> list[str]:
    ids, counts = np.unique(frame.instances, return_counts=True)
    return [
        frame.labels[i]
        for i, c in zip(ids.tolist(), counts.tolist(), strict=True)
        if c >= min_pixels and i in frame.labels and frame.labels[i] not in NOT_OBJECTS
    ]


def match_label(requested: str, available: Sequence[str]) -> str | None:
    """The available label ``requested`` names: equal (any case), else the one containing all its words."""
    wanted = requested.strip().lower()
    for label in available:
        if label.lower() == wanted:
            return label
    words = set(wanted.replace("the ", " ").split())
    candidates = {label for label in available if words and words <= set(label.lower().split())}
    return candidates.pop() if len(candidates) == 1 else None  # one label (it may name several instances)


SQUARE_RATIO = 0.85  # short / long side at or above which a footprint counts as square
ROUND_FILL = 0.85  # share of its enclosing circle a round footprint's convex hull fills (a square: 0.64)


def _wrap(angle: float, half: float) -> float:
    """``angle`` in [-half, half)."""
    return float((angle + half) % (2 * half) - half)


def box_pose(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pose (4x4, z up) and extent of the points' box, with a yaw that does not depend on the camera.

    The horizontal box is the minimum-area rectangle around the points (tight for boxes seen from an
    angle, where principal axes would come out diagonal); the vertical extent is their z range. The
    yaw is canonical, so two cameras seeing the same object agree: x along the longer side with the
    yaw in [-90, 90) degrees; a square footprint (sides within 15 %), whose longer side is a matter
    of noise, takes the yaw in [-45, 45); a round one (its hull fills most of its enclosing circle)
    has no yaw of its own and gets 0, with the extent along the base axes.
    """
    points = np.asarray(points, dtype=np.float64)
    flat = points[:, :2].astype(np.float32)
    (cx, cy), (width, depth), angle = cv2.minAreaRect(flat)
    low, high = points[:, 2].min(), points[:, 2].max()
    long, short = max(width, depth), min(width, depth)
    square = long > 0 and short >= SQUARE_RATIO * long
    radius = cv2.minEnclosingCircle(flat)[1]
    if square and cv2.contourArea(cv2.convexHull(flat)) >= ROUND_FILL * np.pi * radius**2:
        theta = 0.0
        (lx, ly), (hx, hy) = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
        (cx, cy), sides = ((lx + hx) / 2, (ly + hy) / 2), (hx - lx, hy - ly)
    elif square:
        theta = _wrap(np.deg2rad(angle), np.pi / 4)
        turns = round((theta - np.deg2rad(angle)) / (np.pi / 2))  # quarter turns from the width side
        sides = (width, depth) if turns % 2 == 0 else (depth, width)
    else:
        theta = _wrap(np.deg2rad(angle) + (np.pi / 2 if depth > width else 0.0), np.pi / 2)
        sides = (long, short)
    x = np.array([np.cos(theta), np.sin(theta), 0.0])
    y = np.array([-x[1], x[0], 0.0])
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, y, [0.0, 0.0, 1.0]], axis=1)
    pose[:3, 3] = [cx, cy, (low + high) / 2]
    return pose, np.array([sides[0], sides[1], high - low])


SPHERE_RMS = 0.06  # of the radius: points at most this far off a fitted sphere (RMS) lie on a ball
SPHERE_RMS_FLOOR = 0.0015  # m: the least RMS allowed (depth noise on a small ball)
SPHERE_RADII = (0.005, 0.3)  # m: the balls looked for


def fit_sphere(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Least-squares sphere (a circle for 2D points) through ``points``, the algebraic fit: centre,
    radius (0 if degenerate) and the RMS radial residual."""
    design = np.column_stack([2 * points, np.ones(len(points))])
    solution, *_ = np.linalg.lstsq(design, (points**2).sum(axis=1), rcond=None)
    centre = solution[:-1]
    radius = float(np.sqrt(max(solution[-1] + centre @ centre, 0.0)))
    residual = float(np.sqrt(np.mean((np.linalg.norm(points - centre, axis=1) - radius) ** 2)))
    return centre, radius, residual


def sphere_box(points: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Pose (yaw 0) and extent (its diameter on every axis) of the ball ``points`` were seen on, or None
    when they are not a ball's visible top and sides.

    A sphere is fitted, refitted without the worst tenth (mask-edge pixels), and kept only if the points
    lie on it (RMS within ``SPHERE_RMS`` of the radius), its top was seen (a bowl's inside fits a sphere
    whose centre is above the points), they span more than a small cap (a plane fits a huge sphere) and
    they reach down to about the centre's height (the chocolate pudding's rounded top fitted an 11 cm
    ball centred under the table).
    """
    points = np.asarray(points, dtype=np.float64)
    if len(points) < 30:
        return None
    if len(points) > 3000:
        points = points[:: len(points) // 3000 + 1]
    centre, radius, _ = fit_sphere(points)
    off = np.abs(np.linalg.norm(points - centre, axis=1) - radius)
    points = points[off <= np.quantile(off, 0.9)]
    centre, radius, rms = fit_sphere(points)
    if not SPHERE_RADII[0] <= radius <= SPHERE_RADII[1]:
        return None
    span = float(np.ptp(points[:, :2], axis=0).max())
    if rms > max(SPHERE_RMS * radius, SPHERE_RMS_FLOOR) or points[:, 2].max() < centre[2] + 0.6 * radius:
        return None
    if span < 1.2 * radius:
        return None
    if points[:, 2].min() > centre[2] + 0.25 * radius:  # a ball's seen side reaches down to about its
        return None  # centre's height; a rounded lid's top fits a big sphere centred under the table
    pose = np.eye(4)
    pose[:3, 3] = centre
    return pose, np.full(3, 2 * radius)


def object_box(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The box of the object seen as ``points``: its ball's (``sphere_box``), else theirs (``box_pose``)."""
    return sphere_box(points) or box_pose(points)


def detect_objects(frame: CameraFrame, labels: Sequence[str], min_pixels: int = 20) -> list[ObjectDetection]:
    """Detections for ``labels`` (all visible objects when empty); NotFoundError names what is visible.

    A label several instances share (LIBERO's two "akita black bowl"s) gives one detection per instance,
    the most visible first.
    """
    visible = visible_labels(frame, min_pixels)
    if not np.isfinite(frame.depth).any():
        raise NoDataError(f"the {frame.camera} camera's depth image is empty; try the other camera")
    wanted = list(labels) or visible
    matched = {label: match_label(label, visible) for label in wanted}
    missing = [label for label, found in matched.items() if found is None]
    if missing:
        raise NotFoundError(
            f"not visible in the {frame.camera} camera: {', '.join(missing)}; visible: "
            f"{', '.join(visible) or 'nothing'} (try the other camera or move the arm away)"
        )
    ids, counts = np.unique(frame.instances, return_counts=True)
    seen = sorted(
        (
            (c, i)
            for i, c in zip(ids.tolist(), counts.tolist(), strict=True)
            if c >= min_pixels and i in frame.labels
        ),
        reverse=True,
    )
    detections = []
    for requested, label in matched.items():
        for instance in (i for _, i in seen if frame.labels[i] == label):
            detections.append(_detection(frame, requested, instance))
    return detections


def _detection(frame: CameraFrame, requested: str, instance: int) -> ObjectDetection:
    mask = frame.instances == instance
    rows, cols = np.nonzero(mask)
    points = frame.base_points(mask)
    pose, extent = object_box(points) if len(points) >= 3 else (np.eye(4), np.zeros(3))
    return ObjectDetection(
        label=requested,
        instance_id=instance,
        score=1.0,
        box=(int(cols.min()), int(rows.min()), int(np.ptp(cols)) + 1, int(np.ptp(rows)) + 1),
        mask=mask,
        points=points,
        pose=pose,
        extent=extent,
    )
