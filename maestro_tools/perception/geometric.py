"""Geometric detection without learned weights (open3d): table plane, object clusters, colour and size names.

depth -> per-pixel base-frame points -> workspace crop -> RANSAC table plane (on a strided sample)
-> pixels above it -> 4 mm voxels -> DBSCAN clusters -> per cluster: minimum-area box, mean colour
named by hue, size rank. A label resolves by its colour word ("red cube" -> the red cluster) and size
words ("the largest object"); other words cannot be checked geometrically and are ignored, so a label
with neither is refused with the list of what is visible. Masks are the pixels of a cluster's voxels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import open3d as o3d

from maestro_tools.common.errors import NoDataError, NotFoundError
from maestro_tools.perception.colours import COLOURS, colour_name
from maestro_tools.perception.objects import ObjectDetection, box_pose, object_box

WORKSPACE = (np.array([0.1, -0.7, -0.05]), np.array([1.0, 0.7, 0.5]))  # base frame, metres
PLANE_SAMPLES = 8000  # points the RANSAC plane fit sees
LARGEST, SMALLEST = {"largest", "biggest", "big", "large"}, {"smallest", "small", "tiny"}


@dataclass(frozen=True)
class Cluster:
    points: np.ndarray  # (N, 3) base frame, one per occupied voxel
    colour: str
    volume: float
    pixels: np.ndarray = field(default_factory=lambda: np.empty(0, np.intp))  # flat image indices

    @property
    def name(self) -> str:
        return f"{self.colour} object"


def workspace_points(
    depth: np.ndarray, intrinsics: np.ndarray, camera_pose: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Flat pixel indices and (N, 3) base-frame points of the valid depth pixels inside WORKSPACE."""
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        raise NoDataError("the depth image is empty; is the camera publishing depth?")
    rows, cols = depth.shape
    u = ((np.arange(cols) - intrinsics[0, 2]) / intrinsics[0, 0]).astype(np.float32)[None, :]
    v = ((np.arange(rows) - intrinsics[1, 2]) / intrinsics[1, 1]).astype(np.float32)[:, None]
    z = np.where(valid, depth, 0).astype(np.float32)
    inside, axes = valid, []
    for axis in range(3):  # base coordinate = depth * (rotated ray) + camera position, per pixel
        r = camera_pose[axis, :3].astype(np.float32)
        coordinate = z * (r[0] * u + r[1] * v + r[2]) + np.float32(camera_pose[axis, 3])
        inside &= (coordinate >= WORKSPACE[0][axis]) & (coordinate <= WORKSPACE[1][axis])
        axes.append(coordinate.ravel())
    pixels = np.flatnonzero(inside)
    return pixels, np.stack([a[pixels] for a in axes], axis=1)


def clusters(
    rgb: np.ndarray,
    depth: np.ndarray,
    intrinsics: np.ndarray,
    camera_pose: np.ndarray,
    voxel: float = 0.004,
    min_points: int = 12,
) -> list[Cluster]:
    """Objects on the table as clusters of base-frame points, largest first.

    The plane is fitted to a strided sample; only the pixels above it are voxelised and clustered,
    and each pixel keeps its voxel's label, so masks are exact at full resolution.
    """
    pixels, points = workspace_points(depth, intrinsics, camera_pose)
    if len(points) < 100:
        raise NoDataError("fewer than 100 points in the workspace; point the camera at the table")
    sample = o3d.geometry.PointCloud(
        o3d.utility.Vector3dVector(points[:: max(1, len(points) // PLANE_SAMPLES)].astype(np.float64))
    )
    plane, _ = sample.segment_plane(distance_threshold=0.006, ransac_n=3, num_iterations=300)
    sign = np.sign(plane[2] or 1.0)
    above = np.flatnonzero(points @ (sign * np.asarray(plane[:3], np.float32)) + sign * plane[3] > 0.006)
    pixels, points = pixels[above], points[above].astype(np.float64)
    # voxel grid: pixel -> voxel index; voxel points and colours are their pixels' means
    cells = np.floor((points - WORKSPACE[0]) / voxel).astype(np.int64)
    _, voxel_of, counts = np.unique(
        (cells[:, 0] << 42) | (cells[:, 1] << 21) | cells[:, 2], return_inverse=True, return_counts=True
    )
    voxel_of = voxel_of.ravel()
    colours = rgb.reshape(-1, 3)[pixels].astype(np.float64)
    means = [np.bincount(voxel_of, column, len(counts)) / counts for column in (*points.T, *colours.T)]
    centres, voxel_colours = np.stack(means[:3], axis=1), np.stack(means[3:], axis=1)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(centres))
    labels = np.asarray(
        cloud.cluster_dbscan(eps=3.5 * voxel, min_points=min_points) if len(centres) else [], int
    )
    pixel_labels = labels[voxel_of]
    found = []
    for label in range(labels.max() + 1 if len(labels) else 0):
        members = labels == label
        if members.sum() < min_points:
            continue
        _, extent = box_pose(centres[members])
        found.append(
            Cluster(
                centres[members],
                colour_name(voxel_colours[members].mean(axis=0)),
                float(np.prod(np.maximum(extent, 0.005))),
                pixels[pixel_labels == label],
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
        mask = np.zeros(depth.size, bool)
        mask[cluster.pixels] = True
        rows, cols = np.divmod(cluster.pixels, depth.shape[1])
        pose, extent = object_box(cluster.points)
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
                mask=mask.reshape(depth.shape),
                points=cluster.points,
                pose=pose,
                extent=extent,
            )
        )
    return detections
