"""Between the map's plain objects and ROS messages: DetectionFrame -> Observation, MapEntry <->
MapObject, and the RViz markers (boxes with labels, fading with confidence). No rclpy."""

from __future__ import annotations

import cv2
import numpy as np
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from maestro_msgs.msg import Detection, DetectionFrame, MapObject
from maestro_tools.common.conversions import (
    camera_info_to_intrinsics,
    depth_to_points,
    image_to_numpy,
    matrix_to_pose,
    pose_to_matrix,
    seconds_to_time,
    transform_points,
    vector3,
)
from maestro_tools.common.markers import boxes
from maestro_tools.common.tf import stamp_seconds
from maestro_tools.mapping.entries import CameraView, MapEntry, Observation, Sighting

CROP_SIDE = 96  # pixels: the longer side of a view's crop at most
MASK_POINTS = 3000  # a detection's surface points lifted from its mask, at most


def crop_png(rgb: np.ndarray | None, box: tuple[int, int, int, int]) -> bytes:
    """The box of ``rgb`` as a small PNG (empty without an image or with an empty box)."""
    if rgb is None:
        return b""
    x, y, w, h = box
    patch = rgb[max(0, y) : y + h, max(0, x) : x + w]
    if patch.size == 0:
        return b""
    scale = min(1.0, CROP_SIDE / max(patch.shape[:2]))
    if scale < 1.0:
        patch = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, png = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2BGR))
    return png.tobytes() if ok else b""


def observation(
    message: DetectionFrame, detections_to_fixed: np.ndarray, camera_to_fixed: np.ndarray | None
) -> Observation:
    """The frame's detections with 3D in the fixed frame (``detections_to_fixed``: 4x4 from the message's
    header frame) and, with ``camera_to_fixed`` (the depth's optical frame) and a depth image, its view."""
    rgb = image_to_numpy(message.image) if message.image.data else None
    depth = None
    if message.depth.data:
        depth = image_to_numpy(message.depth).astype(np.float32)
        if message.depth.encoding == "16UC1":
            depth = depth / 1000.0
    intrinsics = camera_info_to_intrinsics(message.camera_info) if depth is not None else None
    sightings = []
    for d in message.detections:
        if not d.has_3d:
            continue
        pose = detections_to_fixed @ pose_to_matrix(d.pose)
        box = (int(d.box.x_offset), int(d.box.y_offset), int(d.box.width), int(d.box.height))
        sightings.append(
            Sighting(
                label=d.label,
                score=float(d.score),
                position=pose[:3, 3].copy(),
                rotation=pose[:3, :3].copy(),
                extent=np.array([d.extent.x, d.extent.y, d.extent.z], dtype=np.float64),
                box=box,
                crop=crop_png(rgb, box),
                points=mask_points(d, depth, intrinsics, camera_to_fixed),
            )
        )
    view = None
    if camera_to_fixed is not None and depth is not None and intrinsics is not None:
        view = CameraView(depth, intrinsics, camera_to_fixed)
    stamp = stamp_seconds(message.header.stamp) or 0.0
    return Observation(message.camera, stamp, tuple(message.labels), sightings, view)


def mask_points(
    detection: Detection,
    depth: np.ndarray | None,
    intrinsics: np.ndarray | None,
    camera_to_fixed: np.ndarray | None,
    limit: int = MASK_POINTS,
) -> np.ndarray | None:
    """The detection's mask lifted with the depth into the fixed frame (at most ``limit`` points, evenly
    thinned); None without a mask of the depth's size, a depth, or the camera's pose."""
    if depth is None or intrinsics is None or camera_to_fixed is None or not detection.mask.data:
        return None
    mask = image_to_numpy(detection.mask)
    if mask.shape[:2] != depth.shape:
        return None
    optical = depth_to_points(depth, intrinsics, mask.reshape(depth.shape) > 0)
    if len(optical) == 0:
        return None
    if len(optical) > limit:
        optical = optical[np.linspace(0, len(optical) - 1, limit).astype(int)]
    return transform_points(optical, camera_to_fixed[:3, :3], camera_to_fixed[:3, 3])


def to_map_object(entry: MapEntry, frame: str, to_frame: np.ndarray | None = None) -> MapObject:
    """The entry as a MapObject in ``frame`` (``to_frame``: 4x4 from the fixed frame, None = identity)."""
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = entry.rotation, entry.position
    if to_frame is not None:
        pose = to_frame @ pose
    return MapObject(
        header=Header(frame_id=frame, stamp=seconds_to_time(entry.last_seen)),
        id=entry.id,
        label=entry.label,
        tags=list(entry.tags),
        pose=matrix_to_pose(pose),
        extent=vector3(entry.extent),
        confidence=float(entry.confidence),
        observations=int(entry.observations),
        first_seen=seconds_to_time(entry.first_seen),
        last_seen=seconds_to_time(entry.last_seen),
        camera=entry.camera,
        version=int(entry.version),
    )


def from_map_object(message: MapObject, to_fixed: np.ndarray, stamp: float) -> MapEntry:
    """An upsert's MapObject as an entry in the fixed frame (``to_fixed``: 4x4 from its header frame);
    unset times become ``stamp``, an unset confidence 1 and zero observations 1."""
    pose = to_fixed @ pose_to_matrix(message.pose)
    first = stamp_seconds(message.first_seen) or stamp
    last = stamp_seconds(message.last_seen) or stamp
    return MapEntry(
        id=message.id,
        label=message.label,
        position=pose[:3, 3].copy(),
        rotation=pose[:3, :3].copy(),
        extent=np.array([message.extent.x, message.extent.y, message.extent.z], dtype=np.float64),
        confidence=float(message.confidence) or 1.0,
        observations=int(message.observations) or 1,
        first_seen=first,
        last_seen=last,
        camera=message.camera,
        version=0,
        tags=tuple(message.tags),
    )


def markers(entries: list[MapEntry], frame: str, namespace: str = "semantic_map") -> MarkerArray:
    """A box and a label per object, more transparent the less confident (alpha 0.1..0.7)."""
    poses = []
    for e in entries:
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = e.rotation, e.position
        poses.append(pose)
    return boxes(
        namespace,
        [f"{e.label} ({e.confidence:.2f})" for e in entries],
        poses,
        [np.maximum(np.asarray(e.extent, dtype=float), 0.005) for e in entries],
        Header(frame_id=frame),
        [0.1 + 0.6 * float(np.clip(e.confidence, 0.0, 1.0)) for e in entries],
    )
