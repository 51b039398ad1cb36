"""The one pinhole projection the renderer, the map's visibility and the motion node's map filter share."""

from __future__ import annotations

import numpy as np
import transforms3d

from maestro_tools.common.conversions import depth_to_points, project_points
from maestro_tools.common.render import project

K = np.array([[300.0, 0.0, 160.0], [0.0, 310.0, 120.0], [0.0, 0.0, 1.0]])


def camera_pose() -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = transforms3d.euler.euler2mat(0.3, -0.2, 1.1)
    pose[:3, 3] = (0.4, -0.1, 1.2)
    return pose


def test_projection_inverts_back_projection() -> None:
    rng = np.random.default_rng(3)
    depth = rng.uniform(0.3, 2.5, size=(240, 320))
    in_camera = depth_to_points(depth, K)
    pose = camera_pose()
    in_parent = in_camera @ pose[:3, :3].T + pose[:3, 3]
    pixels, z = project_points(in_parent, K, pose)
    rows, cols = np.nonzero(np.ones_like(depth, dtype=bool))
    # depth_to_points gives float32: agreement to its precision
    np.testing.assert_allclose(pixels, np.stack([cols, rows], axis=1), atol=1e-4)
    np.testing.assert_allclose(z, depth[rows, cols], atol=1e-5)


def test_points_behind_the_camera_are_not_in_front() -> None:
    pose = camera_pose()
    ahead = pose[:3, :3] @ [0.1, 0.0, 1.0] + pose[:3, 3]
    behind = pose[:3, :3] @ [0.1, 0.0, -1.0] + pose[:3, 3]
    pixels, in_front = project(np.stack([ahead, behind]), K, pose)
    _, z = project_points(np.stack([ahead, behind]), K, pose)
    assert in_front.tolist() == [True, False]
    np.testing.assert_allclose(z, [1.0, -1.0], atol=1e-9)
    assert np.isfinite(pixels).all()
    np.testing.assert_allclose(pixels[0], [160.0 + 30.0, 120.0], atol=1e-9)
