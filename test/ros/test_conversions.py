"""Image, point cloud and pose conversions (the project's replacement for ros2_numpy)."""

from __future__ import annotations

import numpy as np
import pytest
from geometry_msgs.msg import Pose, Quaternion
from sensor_msgs.msg import Image

from maestro_tools.common.conversions import (
    IMAGE_ENCODINGS,
    camera_info_to_intrinsics,
    depth_to_points,
    image_to_numpy,
    intrinsics_to_camera_info,
    matrix_to_pose,
    numpy_to_image,
    pointcloud2_to_points,
    points_to_pointcloud2,
    pose_to_matrix,
)
from maestro_tools.common.errors import InvalidArgumentError

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("encoding", sorted(IMAGE_ENCODINGS))
def test_image_round_trip(encoding: str) -> None:
    dtype, channels = IMAGE_ENCODINGS[encoding]
    shape = (5, 7) if channels == 1 else (5, 7, channels)
    if dtype.kind == "f":
        array = RNG.random(shape).astype(dtype)
    else:
        array = RNG.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    back = image_to_numpy(numpy_to_image(array, encoding))
    assert back.dtype == dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_image_with_row_padding_and_big_endian() -> None:
    depth = np.arange(12, dtype=np.float32).reshape(3, 4)
    msg = Image(height=3, width=4, encoding="32FC1", is_bigendian=1, step=20)
    rows = [depth[r].astype(">f4").tobytes() + b"\0\0\0\0" for r in range(3)]
    msg.data = b"".join(rows)
    np.testing.assert_array_equal(image_to_numpy(msg), depth)


def test_bad_images_are_refused_with_the_valid_choices() -> None:
    with pytest.raises(InvalidArgumentError, match="supported: rgb8"):
        image_to_numpy(Image(encoding="yuv422", height=1, width=1, step=2, data=b"\0\0"))
    with pytest.raises(InvalidArgumentError, match="too short"):
        image_to_numpy(Image(encoding="rgb8", height=2, width=2, step=6, data=b"\0" * 6))
    with pytest.raises(InvalidArgumentError, match="3 channel"):
        numpy_to_image(np.zeros((2, 2), np.uint8), "rgb8")
    with pytest.raises(InvalidArgumentError, match="dtype float32"):
        numpy_to_image(np.zeros((2, 2), np.float64), "32FC1")


def test_point_cloud_round_trip_with_colours_and_nans() -> None:
    points = RNG.normal(size=(50, 3)).astype(np.float32)
    colors = RNG.integers(0, 255, (50, 3), dtype=np.uint8)
    points[3] = np.nan
    msg = points_to_pointcloud2(points, rgb=colors)
    assert msg.width == 50 and not msg.is_dense
    xyz, rgb = pointcloud2_to_points(msg, with_rgb=True)
    keep = np.isfinite(points).all(axis=1)
    np.testing.assert_array_equal(xyz, points[keep])
    np.testing.assert_array_equal(rgb, colors[keep])
    assert len(pointcloud2_to_points(msg, skip_nans=False)) == 50


def test_depth_back_projection_matches_the_pinhole_model() -> None:
    k = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    depth = np.full((480, 640), 2.0, np.float32)
    depth[0, 0] = np.nan
    depth[1, 1] = 0
    points = depth_to_points(depth, k)
    assert len(points) == 480 * 640 - 2
    corner = depth_to_points(depth[:3, 638:], np.array([[500.0, 0, -318], [0, 500.0, 240], [0, 0, 1]]))
    assert corner.shape[1] == 3
    info = intrinsics_to_camera_info(k, 640, 480)
    np.testing.assert_array_equal(camera_info_to_intrinsics(info), k)


def test_pose_matrix_round_trip_and_bad_quaternions() -> None:
    matrix = np.eye(4)
    matrix[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    matrix[:3, 3] = [0.4, -0.1, 0.3]
    np.testing.assert_allclose(pose_to_matrix(matrix_to_pose(matrix)), matrix, atol=1e-12)
    with pytest.raises(InvalidArgumentError, match="quaternion"):
        pose_to_matrix(Pose(orientation=Quaternion(w=0.0)))
