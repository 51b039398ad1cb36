"""ROS message <-> numpy conversions, written for numpy 2 (the PyPI ros2-numpy is broken there).

Images: rgb8/bgr8/rgba8/bgra8/mono8/mono16/16UC1/32FC1/8UC1/8UC3/32SC1 <-> (H, W[, C]) arrays,
honouring ``step`` padding and ``is_bigendian``. Point clouds: PointCloud2 <-> (N, 3) float32
xyz, with optional packed rgb. Poses: Pose <-> 4x4 homogeneous matrices.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
import transforms3d
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header

from maestro_tools.common.errors import InvalidArgumentError

# encoding -> (dtype, channels)
IMAGE_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "8UC3": (np.dtype(np.uint8), 3),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32SC1": (np.dtype(np.int32), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
_LITTLE_ENDIAN = sys.byteorder == "little"


def image_to_numpy(msg: Image) -> np.ndarray:
    """A sensor_msgs/Image as an (H, W) or (H, W, C) array (a copy, native byte order)."""
    if msg.encoding not in IMAGE_ENCODINGS:
        raise InvalidArgumentError(
            f"unsupported image encoding {msg.encoding!r}; supported: {', '.join(IMAGE_ENCODINGS)}"
        )
    dtype, channels = IMAGE_ENCODINGS[msg.encoding]
    dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    row_bytes = msg.width * channels * dtype.itemsize
    if msg.step < row_bytes or len(msg.data) < msg.step * msg.height:
        raise InvalidArgumentError(
            f"image data too short: {msg.height} rows x step {msg.step} needs {msg.step * msg.height} bytes "
            f"for {msg.width}x{msg.height} {msg.encoding}, got {len(msg.data)}"
        )
    buffer = np.frombuffer(bytes(msg.data), dtype=np.uint8, count=msg.step * msg.height)
    rows = buffer.reshape(msg.height, msg.step)[:, :row_bytes]
    array = np.ascontiguousarray(rows).view(dtype).reshape(msg.height, msg.width, channels)
    array = array.astype(dtype.newbyteorder("="), copy=False)
    return array[:, :, 0] if channels == 1 else array


def numpy_to_image(array: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    """An (H, W) or (H, W, C) array as a sensor_msgs/Image with the given encoding."""
    if encoding not in IMAGE_ENCODINGS:
        raise InvalidArgumentError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(IMAGE_ENCODINGS)}"
        )
    dtype, channels = IMAGE_ENCODINGS[encoding]
    shaped = array if array.ndim == 3 else array[:, :, np.newaxis]
    if shaped.ndim != 3 or shaped.shape[2] != channels:
        raise InvalidArgumentError(
            f"{encoding} needs {channels} channel(s); got an array of shape {array.shape}"
        )
    if array.dtype != dtype:
        raise InvalidArgumentError(f"{encoding} needs dtype {dtype}; got {array.dtype}")
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(shaped.shape[0]), int(shaped.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0 if _LITTLE_ENDIAN else 1
    msg.step = msg.width * channels * dtype.itemsize
    msg.data = np.ascontiguousarray(shaped).tobytes()
    return msg


def camera_info_to_intrinsics(info: CameraInfo) -> np.ndarray:
    """The 3x3 intrinsic matrix K of a CameraInfo."""
    k = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
    if k[0, 0] <= 0 or k[1, 1] <= 0:
        raise InvalidArgumentError("camera info has no focal length (K is empty); is the camera calibrated?")
    return k


def intrinsics_to_camera_info(
    k: np.ndarray, width: int, height: int, header: Header | None = None
) -> CameraInfo:
    """A pinhole CameraInfo (no distortion) from a 3x3 intrinsic matrix."""
    info = CameraInfo()
    if header is not None:
        info.header = header
    info.width, info.height = int(width), int(height)
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    info.k = [float(v) for v in np.asarray(k, dtype=np.float64).reshape(9)]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [info.k[0], 0.0, info.k[2], 0.0, 0.0, info.k[4], info.k[5], 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def depth_to_points(depth: np.ndarray, k: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Back-project a depth image (metres; 0/NaN/inf = no reading) to (N, 3) camera-frame points."""
    if depth.ndim != 2:
        raise InvalidArgumentError(f"depth must be a 2D array; got shape {depth.shape}")
    valid = np.isfinite(depth) & (depth > 0)
    if mask is not None:
        valid &= mask.astype(bool)
    rows, cols = np.nonzero(valid)
    z = depth[rows, cols].astype(np.float32)
    x = (cols - k[0, 2]) * z / k[0, 0]
    y = (rows - k[1, 2]) * z / k[1, 1]
    return np.stack([x, y, z], axis=1).astype(np.float32)


def transform_points(points: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """``rotation @ p + translation`` for every row of ``points`` (N, 3), as float64.

    Written out by column: numpy's (N, 3) @ (3, 3) matmul takes ~30x longer for a 640x480 cloud here.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    r = np.asarray(rotation, dtype=np.float64)
    return p[:, :1] * r[:, 0] + p[:, 1:2] * r[:, 1] + p[:, 2:3] * r[:, 2] + np.asarray(translation)


def project_points(
    points: np.ndarray, intrinsics: np.ndarray, camera_pose: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 3) in ``camera_pose``'s parent frame -> pixels (N, 2; u right, v down) and depth (N,)
    along the optical axis. Pixels of points at depth <= 1 mm (behind the camera) are not meaningful."""
    to_camera = np.linalg.inv(np.asarray(camera_pose, dtype=np.float64))
    local = transform_points(points, to_camera[:3, :3], to_camera[:3, 3])
    depth = local[:, 2]
    z = np.where(depth > 1e-3, depth, 1.0)
    k = intrinsics
    pixels = np.stack([k[0, 0] * local[:, 0] / z + k[0, 2], k[1, 1] * local[:, 1] / z + k[1, 2]], axis=1)
    return pixels, depth


_XYZ_FIELDS = ("x", "y", "z")


def points_to_pointcloud2(
    points: np.ndarray, header: Header | None = None, rgb: np.ndarray | None = None
) -> PointCloud2:
    """(N, 3) xyz (+ optional (N, 3) uint8 colours, packed as float32 ``rgb``) as a dense PointCloud2."""
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InvalidArgumentError(f"points must have shape (N, 3); got {points.shape}")
    names = list(_XYZ_FIELDS)
    if rgb is not None:
        rgb = np.asarray(rgb, dtype=np.uint8)
        if rgb.shape != points.shape:
            raise InvalidArgumentError(f"rgb must have the points' shape {points.shape}; got {rgb.shape}")
        names.append("rgb")
    record = np.dtype(
        {"names": names, "formats": [np.float32] * len(names), "offsets": [4 * i for i in range(len(names))]}
    )
    cloud = np.zeros(len(points), dtype=record)
    for axis, name in enumerate(_XYZ_FIELDS):
        cloud[name] = points[:, axis]
    if rgb is not None:
        packed = (rgb[:, 0].astype(np.uint32) << 16) | (rgb[:, 1].astype(np.uint32) << 8) | rgb[:, 2]
        cloud["rgb"] = packed.view(np.float32)
    msg = PointCloud2()
    if header is not None:
        msg.header = header
    msg.height, msg.width = 1, len(points)
    msg.fields = [
        PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate(names)
    ]
    msg.is_bigendian = not _LITTLE_ENDIAN
    msg.point_step = record.itemsize
    msg.row_step = msg.point_step * msg.width
    msg.is_dense = bool(np.isfinite(points).all())
    msg.data = cloud.tobytes()
    return msg


_FIELD_DTYPES = {
    PointField.INT8: np.int8,
    PointField.UINT8: np.uint8,
    PointField.INT16: np.int16,
    PointField.UINT16: np.uint16,
    PointField.INT32: np.int32,
    PointField.UINT32: np.uint32,
    PointField.FLOAT32: np.float32,
    PointField.FLOAT64: np.float64,
}


def pointcloud2_to_points(
    msg: PointCloud2, *, with_rgb: bool = False, skip_nans: bool = True
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """A PointCloud2 as (N, 3) float32 xyz, optionally with (N, 3) uint8 colours from ``rgb``/``rgba``."""
    fields = {f.name: f for f in msg.fields}
    missing = [n for n in _XYZ_FIELDS if n not in fields]
    if missing:
        raise InvalidArgumentError(f"point cloud lacks field(s) {missing}; it has {sorted(fields)}")
    order = ">" if msg.is_bigendian else "<"
    wanted = list(_XYZ_FIELDS)
    color_field = next((n for n in ("rgb", "rgba") if n in fields), None) if with_rgb else None
    if with_rgb and color_field is None:
        raise InvalidArgumentError(f"point cloud has no rgb/rgba field; it has {sorted(fields)}")
    if color_field:
        wanted.append(color_field)
    record = np.dtype(
        {
            "names": wanted,
            "formats": [np.dtype(_FIELD_DTYPES[fields[n].datatype]).newbyteorder(order) for n in wanted],
            "offsets": [fields[n].offset for n in wanted],
            "itemsize": msg.point_step,
        }
    )
    count = msg.width * msg.height
    if len(msg.data) < count * msg.point_step:
        raise InvalidArgumentError(f"point cloud data too short: {len(msg.data)} bytes for {count} points")
    if msg.row_step == msg.width * msg.point_step:
        cloud = np.frombuffer(bytes(msg.data), dtype=record, count=count)
    else:
        rows = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.row_step)
        cloud = np.ascontiguousarray(rows[:, : msg.width * msg.point_step]).view(record).reshape(-1)
    xyz = np.stack([cloud[n].astype(np.float32) for n in _XYZ_FIELDS], axis=1)
    keep = np.isfinite(xyz).all(axis=1) if skip_nans else np.ones(len(xyz), dtype=bool)
    if not color_field:
        return xyz[keep]
    packed = cloud[color_field].astype(np.dtype(np.float32).newbyteorder("=")).view(np.uint32)
    colors = np.stack([(packed >> 16) & 0xFF, (packed >> 8) & 0xFF, packed & 0xFF], axis=1).astype(np.uint8)
    return xyz[keep], colors[keep]


def pose_to_matrix(pose: Pose) -> np.ndarray:
    """A geometry_msgs/Pose as a 4x4 homogeneous transform."""
    q = pose.orientation
    quaternion = np.array([q.w, q.x, q.y, q.z], dtype=np.float64)
    norm = np.linalg.norm(quaternion)
    if not np.isfinite(norm) or norm < 1e-9:
        raise InvalidArgumentError("pose orientation is not a valid quaternion (zero or NaN)")
    matrix = np.eye(4)
    matrix[:3, :3] = transforms3d.quaternions.quat2mat(quaternion / norm)
    matrix[:3, 3] = [pose.position.x, pose.position.y, pose.position.z]
    return matrix


def matrix_to_pose(matrix: np.ndarray) -> Pose:
    """A 4x4 homogeneous transform as a geometry_msgs/Pose."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise InvalidArgumentError(f"expected a finite 4x4 transform; got shape {matrix.shape}")
    w, x, y, z = transforms3d.quaternions.mat2quat(matrix[:3, :3])
    position = matrix[:3, 3]
    return Pose(
        position=Point(x=float(position[0]), y=float(position[1]), z=float(position[2])),
        orientation=Quaternion(x=float(x), y=float(y), z=float(z), w=float(w)),
    )


def vector3(values: Sequence[float]) -> Vector3:
    x, y, z = (float(v) for v in values)
    return Vector3(x=x, y=y, z=z)


def seconds_to_time(seconds: float) -> Time:
    """A builtin_interfaces/Time from seconds (sim time, or time.time())."""
    nanoseconds = round(seconds * 1e9)
    return Time(sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9)
