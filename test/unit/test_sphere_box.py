"""A ball's box comes from the sphere its visible points lie on: the box of the near half alone is short of
the far side (its centre up to half a radius towards the camera), which put grasps at the pads' tips."""

from __future__ import annotations

import numpy as np
import pytest

from maestro_tools.perception.objects import box_pose, object_box, sphere_box

RNG = np.random.default_rng(7)
CENTRE = np.array([0.5, 0.1, 0.035])
RADIUS = 0.035


def unit_vectors(count: int) -> np.ndarray:
    directions = RNG.normal(size=(count, 3))
    return directions / np.linalg.norm(directions, axis=1, keepdims=True)


def seen_ball(elevation_deg: float, noise: float = 0.0) -> np.ndarray:
    """The surface points of a ball on a table that a camera 0.4 m away at ``elevation_deg`` sees."""
    elevation = np.radians(elevation_deg)
    camera = CENTRE + 0.4 * np.array([-np.cos(elevation), 0.0, np.sin(elevation)])
    normals = unit_vectors(20000)
    points = CENTRE + RADIUS * normals
    seen = (np.einsum("ij,ij->i", camera - points, normals) > 0) & (points[:, 2] > 0.002)
    return points[seen] + RNG.normal(scale=noise, size=(int(seen.sum()), 3))


@pytest.mark.parametrize("elevation", [10.0, 30.0, 45.0, 60.0, 85.0])
def test_a_ball_seen_from_one_side_gets_its_whole_box(elevation: float) -> None:
    points = seen_ball(elevation, noise=0.001)
    near_half = box_pose(points)[0][:3, 3]
    pose, extent = object_box(points)
    assert np.linalg.norm(pose[:3, 3] - CENTRE) < 0.002, (pose[:3, 3], CENTRE)
    np.testing.assert_allclose(extent, 2 * RADIUS, atol=0.002)
    np.testing.assert_allclose(pose[:3, :3], np.eye(3))
    if elevation <= 45.0:  # what the near half's box alone gave: centred towards the camera
        assert near_half[0] < CENTRE[0] - 0.004


def test_shapes_that_are_not_balls_keep_the_points_box() -> None:
    side = np.stack(np.meshgrid(np.linspace(-1, 1, 20), np.linspace(-1, 1, 20)), -1).reshape(-1, 2) * 0.025
    cube = np.vstack(  # the top and two sides of a 5 cm cube
        [
            np.column_stack([side, np.full(len(side), 0.025)]),
            np.column_stack([np.full(len(side), -0.025), side]),
            np.column_stack([side[:, 0], np.full(len(side), -0.025), side[:, 1]]),
        ]
    )
    normals = unit_vectors(5000)
    bowl_inside = normals[normals[:, 2] < -0.2] * 0.07  # fits a sphere whose centre is above it
    angle, height = RNG.uniform(0, np.pi, 3000), RNG.uniform(0, 0.1, 3000)
    can_side = np.column_stack([0.03 * np.cos(angle), -0.03 * np.sin(angle), height])
    cap = CENTRE + RADIUS * normals[normals[:, 2] > 0.97]  # a small cap: any curvature fits it
    plane = np.column_stack([RNG.uniform(0, 0.2, (500, 2)), np.zeros(500)])
    dome = 0.054 * normals + [0.0, 0.0, -0.02]  # a rounded lid: a ball's top centred under the table
    dome = dome[dome[:, 2] > 0.0]
    for name, points in {
        "cube": cube,
        "bowl": bowl_inside,
        "can": can_side,
        "cap": cap,
        "plane": plane,
        "dome": dome,
    }.items():
        assert sphere_box(points) is None, name
        pose, extent = object_box(points)
        expected_pose, expected_extent = box_pose(points)
        np.testing.assert_allclose(pose, expected_pose, err_msg=name)
        np.testing.assert_allclose(extent, expected_extent, err_msg=name)


def test_too_few_points_or_an_implausible_radius_is_no_ball() -> None:
    assert sphere_box(seen_ball(45.0)[:20]) is None
    huge = CENTRE + 0.5 * unit_vectors(3000)
    assert sphere_box(huge[huge[:, 2] > CENTRE[2]]) is None  # a 1 m dome: not a ball to grasp
