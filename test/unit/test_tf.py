"""TransformTree, the TF buffer without ROS: chains, inverses, interpolation, tolerances, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import transforms3d

from maestro_tools.common.tf import ExtrapolationError, TransformTree, UnknownFrameError, transform_points


def pose(xyz: tuple[float, float, float] = (0, 0, 0), yaw: float = 0.0, roll: float = 0.0) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = transforms3d.euler.euler2mat(roll, 0.0, yaw, "sxyz")
    matrix[:3, 3] = xyz
    return matrix


@pytest.fixture
def tree() -> TransformTree:
    tree = TransformTree(cache_time=10.0, tolerance=0.05)
    tree.set("world", "base", pose((1.0, 0.0, 0.0), yaw=np.pi / 2))
    tree.set("base", "hand", pose((0.0, 0.0, 0.5), roll=np.pi), stamp=1.0)
    tree.set("base", "hand", pose((0.2, 0.0, 0.5), roll=np.pi), stamp=2.0)
    tree.set("hand", "camera", pose((0.0, 0.1, 0.0)))
    tree.set("world", "scene_camera", pose((0.0, -1.0, 1.0), yaw=0.3))
    return tree


def test_a_chain_composes_and_the_reverse_lookup_is_its_inverse(tree: TransformTree) -> None:
    expected = pose((1.0, 0.0, 0.0), yaw=np.pi / 2) @ pose((0.2, 0.0, 0.5), roll=np.pi) @ pose((0, 0.1, 0))
    np.testing.assert_allclose(tree.lookup("world", "camera", 2.0), expected, atol=1e-12)
    np.testing.assert_allclose(tree.lookup("camera", "world", 2.0), np.linalg.inv(expected), atol=1e-12)
    # Across branches: the scene camera seen from the hand camera goes up to world and down again.
    across = np.linalg.inv(expected) @ pose((0.0, -1.0, 1.0), yaw=0.3)
    np.testing.assert_allclose(tree.lookup("camera", "scene_camera", 2.0), across, atol=1e-12)
    np.testing.assert_allclose(tree.lookup("base", "base"), np.eye(4))
    points = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    moved = transform_points(tree.lookup("world", "camera", 2.0), points)
    np.testing.assert_allclose(moved, points @ expected[:3, :3].T + expected[:3, 3], atol=1e-12)


def test_stamps_between_samples_interpolate_position_and_rotation() -> None:
    tree = TransformTree()
    tree.set("base", "link", pose((0.0, 0.0, 0.0), yaw=0.0), stamp=10.0)
    tree.set("base", "link", pose((1.0, 2.0, 0.0), yaw=np.pi / 2), stamp=11.0)
    halfway = tree.lookup("base", "link", 10.25)
    np.testing.assert_allclose(halfway[:3, 3], [0.25, 0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(halfway[:3, :3], pose(yaw=np.pi / 8)[:3, :3], atol=1e-12)  # slerp
    exact = tree.lookup("base", "link", 11.0)
    np.testing.assert_allclose(exact, pose((1.0, 2.0, 0.0), yaw=np.pi / 2), atol=1e-12)


def test_a_stamp_just_past_the_newest_takes_it_and_a_stale_one_says_how_old(tree: TransformTree) -> None:
    np.testing.assert_allclose(tree.lookup("base", "hand", 2.04), tree.lookup("base", "hand", 2.0))
    with pytest.raises(
        ExtrapolationError, match=r"base -> hand at t=2\.500 s: the newest one is from t=2\.000"
    ):
        tree.lookup("world", "camera", 2.5)
    with pytest.raises(ExtrapolationError, match="oldest"):
        tree.lookup("base", "hand", 0.5)
    assert tree.can_transform("world", "camera", 1.5) and not tree.can_transform("world", "camera", 3.0)
    # Static transforms hold at any stamp.
    static = tree.lookup("world", "base", 123.0)
    np.testing.assert_allclose(static, pose((1.0, 0.0, 0.0), yaw=np.pi / 2), atol=1e-12)


def test_no_stamp_means_the_latest_time_the_whole_chain_has() -> None:
    tree = TransformTree()
    tree.set("base", "a", pose((0.0, 0.0, 0.0)), stamp=1.0)
    tree.set("base", "a", pose((1.0, 0.0, 0.0)), stamp=2.0)
    tree.set("a", "b", pose((0.0, 0.0, 0.0)), stamp=1.0)
    tree.set("a", "b", pose((0.0, 1.0, 0.0)), stamp=1.5)
    np.testing.assert_allclose(tree.lookup("base", "b")[:3, 3], [0.5, 1.0, 0.0])  # both at t = 1.5


def test_unknown_and_unconnected_frames_name_what_exists(tree: TransformTree) -> None:
    with pytest.raises(UnknownFrameError, match="unknown frame 'gripper'; frames: base, camera, hand"):
        tree.lookup("base", "gripper")
    tree.set("odom", "robot", pose())
    with pytest.raises(UnknownFrameError, match="not connected: their trees' roots are 'odom' and 'world'"):
        tree.lookup("world", "robot")
    with pytest.raises(UnknownFrameError):
        tree.set("base", "base", pose())


def test_old_samples_leave_the_cache_and_reparenting_starts_over() -> None:
    tree = TransformTree(cache_time=1.0)
    for step in range(40):
        tree.set("base", "link", pose((step * 0.1, 0.0, 0.0)), stamp=step * 0.1)
    with pytest.raises(ExtrapolationError, match="oldest"):
        tree.lookup("base", "link", 1.0)
    np.testing.assert_allclose(tree.lookup("base", "link", 3.5)[:3, 3], [3.5, 0.0, 0.0], atol=1e-9)
    tree.set("world", "link", pose((0.0, 0.0, 1.0)))  # now a static child of another parent
    assert tree.frames() == ["link", "world"]  # nothing hangs on base any more
    np.testing.assert_allclose(tree.lookup("world", "link", 99.0)[:3, 3], [0.0, 0.0, 1.0])
