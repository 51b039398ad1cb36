"""Geometric detection without learned weights (open3d): table plane, object clusters, colour and size names.

depth -> base-frame cloud -> workspace crop -> 4 mm voxels -> RANSAC table plane -> points above it
-> DBSCAN clusters -> per cluster: minimum-area box, mean colour named by hue, size rank. A label
resolves by its colour word ("red cube" -> the red cluster) and size words ("the largest object");
other words cannot be checked geometrically and are ignored, so a label with neither is refused
with the list of what is visible. Masks are the clusters' points projected back into the image.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np
import open3d as o3d

from maestro_tools.common.conversions import depth_to_points
from maestro_tools.common.errors import NoDataError, NotFoundError
from maestro_tools.common.render import project
from maestro_tools.perception.objects import ObjectDetection, box_pose

WORKSPACE = (np.array([0.1, -0.7, -0.05]), np.array([1.0, 0.7, 0.5]))  # base frame, metres
COLOURS = (
    "red",
    "orange",
    "yellow",
    "green",
    "cyan",
    "blue",
    "purple",
    "pink",
    "white",
    "grey",
    "black",
    "brown",
)
LARGEST, SMALLEST = {"largest", "biggest", "big", "large"}, {"smallest", "small", "tiny"}


@dataclass(frozen=True)
class Cluster:
    points: np.ndarray  # (N, 3) base frame
    colour: str
    volume: float

    @property
    def name(self) -> str:
        return f"{self.colour} object"


def colour_name(rgb: np.ndarray) -> str:
    """A colour word for a mean RGB (0..255)."""
    hue, lightness, saturation = colorsys.rgb_to_hls(*(np.asarray(rgb, float) / 255.0))
    if saturation < 0.25 or lightness < 0.12 or lightness > 0.9:
        return "black" if lightness < 0.2 else "white" if lightness > 0.75 else "grey"
    degrees = hue * 360
    if lightness < 0.35 and 15 <= degrees < 45:
        return "brown"
    for limit, name in (
        (15, "red"),
        (40, "orange"),
        (70, "yellow"),
        (160, "green"),
        (195, "cyan"),
        (250, "blue"),
        (290, "purple"),
        (335, "pink"),
        (360, "red"),
    ):
        if degrees < limit:
            return name
    return "red"


def clusters(
    rgb: np.ndarray,
    depth: np.ndarray,
    intrinsics: np.ndarray,
    camera_pose: np.ndarray,
    voxel: float = 0.004,
    min_points: int = 12,
) -> list[Cluster]:
    """Objects on the table as clusters of base-frame points, largest first."""
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        raise NoDataError("the depth image is empty; is the camera publishing depth?")
    camera_points = depth_to_points(depth, intrinsics)
    colours = rgb[valid].astype(np.float64) / 255.0
    points = camera_points @ camera_pose[:3, :3].T + camera_pose[:3, 3]
    inside = np.all((points >= WORKSPACE[0]) & (points <= WORKSPACE[1]), axis=1)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points[inside]))
    cloud.colors = o3d.utility.Vector3dVector(colours[inside])
    cloud = cloud.voxel_down_sample(voxel)
    if len(cloud.points) < 100:
        raise NoDataError("fewer than 100 points in the workspace; point the camera at the table")
    plane, inliers = cloud.segment_plane(distance_threshold=0.006, ransac_n=3, num_iterations=300)
    normal = np.asarray(plane[:3]) * np.sign(plane[2] or 1.0)
    offset = plane[3] * np.sign(plane[2] or 1.0)
    above = cloud.select_by_index(inliers, invert=True)
    height = np.asarray(above.points) @ normal + offset
    above = above.select_by_index(np.flatnonzero(height > 0.004))
    labels = np.asarray(above.cluster_dbscan(eps=3.5 * voxel, min_points=min_points))
    found = []
    cluster_points, cluster_colours = np.asarray(above.points), np.asarray(above.colors)
    for label in range(labels.max() + 1 if len(labels) else 0):
        members = labels == label
        if members.sum() < min_points:
            continue
        _, extent = box_pose(cluster_points[members])
        found.append(
            Cluster(
                cluster_points[members],
                colour_name(255 * cluster_colours[members].mean(axis=0)),
                float(np.prod(np.maximum(extent, 0.005))),
            )
        )
    return sorted(found, key=lambda c: -c.volume)


def resolve(label: str, found: list[Cluster]) -> Cluster:
    """The cluster a label names by colour and size words; NotFoundError lists what is visible."""
    words = set(label.lower().replace("-", " ").split())
    candidates = [c for c in found if not (words & set(COLOURS)) or c.colour in words]
    if not words & (set(COLOURS) | LARGEST | SMALLEST) or not candidates:
        visible = ", ".join(f"{c.name} ({100 * np.cbrt(c.volume):.0f} cm)" for c in found) or "nothing"
        raise NotFoundError(
            f"the geometric detector names objects by colour and size ('red object', 'the largest "
            f"object'); no match for {label!r}; visible: {visible}"
        )
    return candidates[-1] if words & SMALLEST else candidates[0]


def detect(
    rgb: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray, camera_pose: np.ndarray, labels: list[str]
) -> list[ObjectDetection]:
    """Detections for ``labels`` (all clusters, named by colour, when empty)."""
    found = clusters(rgb, depth, intrinsics, camera_pose)
    chosen = [(label, resolve(label, found)) for label in labels] or [(c.name, c) for c in found]
    detections = []
    for index, (label, cluster) in enumerate(chosen):
        pixels, in_front = project(cluster.points, intrinsics, camera_pose)
        mask = np.zeros(depth.shape, np.uint8)
        for u, v in pixels[in_front].astype(int):
            if 0 <= u < mask.shape[1] and 0 <= v < mask.shape[0]:
                cv2.circle(mask, (int(u), int(v)), 3, 1, -1)
        rows, cols = np.nonzero(mask)
        pose, extent = box_pose(cluster.points)
        box = (
            (int(cols.min()), int(rows.min()), int(np.ptp(cols)) + 1, int(np.ptp(rows)) + 1)
            if len(rows)
            else (0, 0, 0, 0)
        )
        detections.append(
            ObjectDetection(
                label=label,
                instance_id=index + 1,
                score=1.0,
                box=box,
                mask=mask.astype(bool),
                points=cluster.points,
                pose=pose,
                extent=extent,
            )
        )
    return detections
