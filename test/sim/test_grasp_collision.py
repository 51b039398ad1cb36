"""Grasp collision checks against a rendered scene's depth points (no ROS)."""

from __future__ import annotations

import numpy as np
import pytest

from maestro_tools.grasping.collision import colliding_points, collision_free
from maestro_tools.grasping.top_down import GraspCandidate, top_down_grasps
from maestro_tools.perception.cloud import depth_cloud, scene_points
from maestro_tools.perception.objects import detect_objects
from maestro_tools.sim.world import SimWorld
from test.sim.franka_cell import CELL_SURFACES, GRIPPER, TOP_DOWN
from test.sim.test_modules import frame


@pytest.fixture(scope="module")
def world() -> SimWorld:
    sim = SimWorld()
    sim.reset("clean_table", 0)
    yield sim
    sim.close()


@pytest.fixture(scope="module")
def scene(world: SimWorld):
    return frame(world, "scene")


def cloud(scene_frame) -> np.ndarray:
    return scene_points(depth_cloud(scene_frame), CELL_SURFACES)


def test_the_planned_top_down_grasps_are_free_and_misplaced_ones_are_not(scene) -> None:
    points = cloud(scene)
    assert len(points) > 1000 and points[:, 2].min() > 0.003  # the table is gone
    detections = {d.label: d for d in detect_objects(scene, [])}
    block = detections["red block"]
    candidates = top_down_grasps(block.pose, block.extent, *TOP_DOWN)
    free = collision_free(candidates, points, GRIPPER.volumes)
    assert free, [colliding_points(c.pose, points, GRIPPER.volumes) for c in candidates]
    sunk = free[0].pose.copy()
    sunk[2, 3] -= 0.03  # fingers 3 cm into the block's top
    on_can = free[0].pose.copy()
    on_can[:2, 3] = detections["green can"].pose[:2, 3] + [0.0, 0.035]  # a finger lands on the can
    for pose in (sunk, on_can):
        assert colliding_points(pose, points, GRIPPER.volumes) > 20
        assert not collision_free([GraspCandidate(pose, 0.05, 1.0, "test")], points, GRIPPER.volumes)


def test_a_hand_camera_sees_its_own_gripper_unless_near_points_are_dropped(world: SimWorld) -> None:
    wrist = frame(world, "wrist")
    camera = wrist.camera_pose[:3, 3]
    near = lambda points: int((np.linalg.norm(points - camera, axis=1) < 0.12).sum())  # noqa: E731
    assert near(depth_cloud(wrist)) > 100  # the fingers
    assert near(depth_cloud(wrist, 0.15)) == 0
