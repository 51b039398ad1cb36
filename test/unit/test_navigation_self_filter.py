"""Navigation's self filter: depth on the arm's links or in its hand is not an obstacle; the rest is."""

from __future__ import annotations

import numpy as np
import pytest

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.navigation.self_filter import SelfFilterConfig, outside_robot
from maestro_tools.robots import get_robot
from maestro_tools.robots.description import robot_tree

# An arm reaching forward from its mount at 0.5 m: shoulder up, forearm out, hand at (0.6, 0, 0.5).
CHAIN = np.array([[0.0, 0.0, 0.5], [0.0, 0.0, 0.7], [0.5, 0.0, 0.6], [0.6, 0.0, 0.5]])


def test_points_on_the_links_and_in_the_hand_are_dropped_the_rest_kept() -> None:
    points = np.array(
        [
            [0.25, 0.05, 0.65],  # on the forearm, 5 cm off its axis
            [0.0, 0.08, 0.6],  # beside the shoulder
            [0.7, 0.1, 0.45],  # a held toy below and beside the hand (0.15 m from the TCP)
            [0.25, 0.0, 0.4],  # under the forearm, 0.25 m down: a table edge
            [1.2, 0.0, 0.3],  # ahead
            [0.0, 0.0, 1.0],  # above the shoulder's end, beyond the radius
        ]
    )
    keep = outside_robot(points, CHAIN, radius=0.1, hand_radius=0.18)
    assert keep.tolist() == [False, False, False, True, True, True]


def test_no_chain_or_no_points_keep_everything() -> None:
    points = np.random.default_rng(0).uniform(-1, 1, (20, 3))
    assert outside_robot(points, np.empty((0, 3)), 0.1, 0.2).all()
    assert outside_robot(np.empty((0, 3)), CHAIN, 0.1, 0.2).shape == (0,)


def test_a_repeated_frame_is_a_sphere_not_a_division_by_zero() -> None:
    chain = np.array([[0.0, 0.0, 0.5], [0.0, 0.0, 0.5]])
    keep = outside_robot(np.array([[0.05, 0.0, 0.5], [0.3, 0.0, 0.5]]), chain, 0.1, 0.01)
    assert keep.tolist() == [False, True]


def test_radii_are_checked() -> None:
    with pytest.raises(InvalidArgumentError, match="radius"):
        SelfFilterConfig(frames=("a",), radius=0.0)


def test_the_go2w_piper_arm_frames_are_links_of_its_description() -> None:
    profile = get_robot("go2w_piper")
    assert profile.arm is not None and profile.arm.link_frames
    links = {link.name for link in robot_tree(profile).links}
    assert set(profile.arm.link_frames) | {profile.arm.tcp_frame} <= links
