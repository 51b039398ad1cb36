"""From a labelled segmentation and depth to detections with 2D boxes, masks and 3D poses (plain numpy).

A ``CameraFrame`` is what one camera saw at one instant. ``detect_objects`` matches requested labels
to the instances in the frame (exact, then by words: "ball" finds "tennis ball"), and lifts each mask
to base-frame points with the depth, the intrinsics and the camera pose. The 3D pose is the centre of
the points' minimum-area horizontal box; extent is the box size.
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
    pose: np.ndarray  # 4x4: box centre, x = principal horizontal axis, z up
    extent: np.ndarray  # (3,) metres along the pose's axes

    @property
    def has_3d(self) -> bool:
        return len(self.points) >= 3


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
    candidates = [label for label in available if words and words <= set(label.lower().split())]
    return candidates[0] if len(candidates) == 1 else None


def box_pose(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pose (4x4, z up, x along the box's longer horizontal side) and extent of the points' box.

    The horizontal box is the minimum-area rectangle around the points (tight for boxes seen from an
    angle, where principal axes would come out diagonal); the vertical extent is their z range.
    """
    points = np.asarray(points, dtype=np.float64)
    (cx, cy), (width, depth), angle = cv2.minAreaRect(points[:, :2].astype(np.float32))
    theta = np.deg2rad(angle) + (np.pi / 2 if depth > width else 0.0)
    x = np.array([np.cos(theta), np.sin(theta), 0.0])
    y = np.array([-x[1], x[0], 0.0])
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, y, [0.0, 0.0, 1.0]], axis=1)
    low, high = points[:, 2].min(), points[:, 2].max()
    pose[:3, 3] = [cx, cy, (low + high) / 2]
    return pose, np.array([max(width, depth), min(width, depth), high - low])


def detect_objects(frame: CameraFrame, labels: Sequence[str], min_pixels: int = 20) -> list[ObjectDetection]:
    """Detections for ``labels`` (all visible objects when empty); NotFoundError names what is visible."""
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
    by_label = {label: i for i, label in frame.labels.items()}
    detections = []
    for requested, label in matched.items():
        instance = by_label[label]
        mask = frame.instances == instance
        rows, cols = np.nonzero(mask)
        points = frame.base_points(mask)
        pose, extent = box_pose(points) if len(points) >= 3 else (np.eye(4), np.zeros(3))
        detections.append(
            ObjectDetection(
                label=requested,
                instance_id=instance,
                score=1.0,
                box=(int(cols.min()), int(rows.min()), int(np.ptp(cols)) + 1, int(np.ptp(rows)) + 1),
                mask=mask,
                points=points,
                pose=pose,
                extent=extent,
            )
        )
    return detections
