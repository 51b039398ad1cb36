"""The detector's 3D boxes have the same yaw from both cameras, and under the visual perturbation the
simulator's labels (what the sim-truth detector reports) name the colours the cameras show."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from maestro_tools.perception.colours import COLOURS, colour_name, recoloured
from maestro_tools.perception.objects import box_pose, detect_objects
from maestro_tools.sim.tasks import Variation
from maestro_tools.sim.tasks.clean_table import ITEMS
from maestro_tools.sim.world import SimWorld
from test.sim.franka_cell import frame


@pytest.fixture(scope="module")
def world() -> Iterator[SimWorld]:
    sim = SimWorld("clean_table", 0, width=640, height=480)
    yield sim
    sim.close()


def yaw(pose: np.ndarray) -> float:
    return float(np.degrees(np.arctan2(pose[1, 0], pose[0, 0])))


def turned(angle: float) -> np.ndarray:
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    return np.array([[c, -s], [s, c]])


def test_box_yaw_is_canonical_for_long_square_and_round_footprints() -> None:
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 21), np.linspace(-1, 1, 21)), axis=-1).reshape(-1, 2)
    for angle in (-170.0, -100.0, -30.0, 10.0, 95.0, 179.0):
        flat = grid * [0.1, 0.03] @ turned(angle).T  # 20 x 6 cm, its long side along ``angle``
        pose, extent = box_pose(np.column_stack([flat + [0.5, 0.1], np.full(len(flat), 0.02)]))
        assert -90.0 <= yaw(pose) < 90.0 and abs((yaw(pose) - angle + 90) % 180 - 90) < 0.5
        np.testing.assert_allclose(extent[:2], [0.2, 0.06], atol=1e-3)
        square, _ = box_pose(np.column_stack([grid * 0.03 @ turned(angle).T, np.zeros(len(grid))]))
        assert -45.0 <= yaw(square) < 45.0 and abs((yaw(square) - angle + 45) % 90 - 45) < 0.5
    circle = np.array([[np.cos(t), np.sin(t), 0.0] for t in np.linspace(0, 2 * np.pi, 90)]) * 0.04
    pose, extent = box_pose(np.vstack([circle, circle + [0, 0, 0.05]]) + [0.5, 0.0, 0.0])
    assert yaw(pose) == 0.0 and np.allclose(extent, [0.08, 0.08, 0.05], atol=1e-3)
    np.testing.assert_allclose(pose[:3, 3], [0.5, 0.0, 0.025], atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_both_cameras_give_the_same_box_yaw(world: SimWorld, seed: int) -> None:
    world.reset("clean_table", seed, "pose")  # blocks turned by up to 60 degrees
    scene, wrist = (detect_objects(frame(world, c), []) for c in ("scene", "wrist"))
    wrist_by_label = {d.label: d for d in wrist}
    for detection in scene:
        other = wrist_by_label[detection.label]
        difference = (yaw(detection.pose) - yaw(other.pose) + 90) % 180 - 90
        assert abs(difference) < 4.0, (detection.label, yaw(detection.pose), yaw(other.pose))
        if detection.label in ("red block", "blue cube"):  # cubes: the true yaw within the quarter turn
            truth = yaw(world.rotation(detection.label))
            assert -45.0 <= yaw(detection.pose) < 45.0
            assert abs((yaw(detection.pose) - truth + 45) % 90 - 45) < 3.0
        else:  # the can and the bowl are round: no yaw of their own
            assert yaw(detection.pose) == 0.0 == yaw(other.pose)


def test_recoloured_labels_take_the_new_colour_word() -> None:
    purple = (140, 40, 190)
    assert (
        recoloured("red block", purple) == "purple block"
        and recoloured("tennis ball", purple) == "tennis ball"
    )
    assert colour_name(purple) == "purple"
    visual, pose = Variation("clean_table", 0, "visual"), Variation("clean_table", 0, "pose")
    assert visual.name("red block", (0.5, 0.15, 0.7, 1.0)) == "purple block"
    assert pose.name("red block", (0.5, 0.15, 0.7, 1.0)) == "red block"  # only the visual axis renames


def test_labels_under_the_visual_perturbation_name_the_colours_seen(world: SimWorld) -> None:
    agree, total, renamed = 0, 0, 0
    for seed in range(10):
        info = world.reset("clean_table", seed, "visual")
        seen = frame(world, "scene")
        for label in info.objects[:-1]:  # the bowl has no colour word
            word = label.split()[0]
            assert word in COLOURS, label
            mask = seen.instances == world.instance_labels.index(label)
            agree += colour_name(seen.rgb[mask].mean(axis=0)) == word
            total += 1
            renamed += label not in ITEMS
        detections = detect_objects(seen, [])  # the sim-truth detector reports these labels
        assert {d.label for d in detections} == set(info.objects)
    assert agree >= total - 1, f"{agree} of {total} labels name the colour the camera sees"
    assert renamed >= total // 2  # the colours changed, and so did the names


def test_the_tennis_balls_box_is_centred_on_it_from_both_cameras() -> None:
    """A ball's box is its fitted sphere's (``sphere_box``), not its visible half's: from the scene and the
    wrist camera alike, the centre lies within 3 mm of the ball's and the sides are its diameter."""
    sim = SimWorld("ball_in_bowl", 0, width=640, height=480)
    try:
        truth = sim.position("tennis ball")
        for camera in ("scene", "wrist"):
            (ball,) = detect_objects(frame(sim, camera), ["tennis ball"])
            assert np.linalg.norm(ball.pose[:3, 3] - truth) < 0.003, (camera, ball.pose[:3, 3], truth)
            np.testing.assert_allclose(ball.extent, 0.066, atol=0.003)
    finally:
        sim.close()
