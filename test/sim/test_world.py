"""The simulated tabletop without ROS: resets, determinism, perturbations, scoring, rendering."""

from __future__ import annotations

import numpy as np
import pytest

from maestro_tools.common.errors import InvalidArgumentError, NotFoundError, OutOfLimitsError
from maestro_tools.sim.control import validate_trajectory
from maestro_tools.sim.tasks import PERTURBATIONS, TASKS
from maestro_tools.sim.world import SimWorld
from test.sim.franka_cell import HOME


@pytest.fixture(scope="module")
def world() -> SimWorld:
    sim = SimWorld("ball_in_bowl", 0, width=320, height=240)
    yield sim
    sim.close()


def object_positions(world: SimWorld) -> dict[str, np.ndarray]:
    return {label: world.position(label) for label in world.info.objects}


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("perturbation", PERTURBATIONS)
def test_every_task_resets_on_every_axis_deterministically(
    world: SimWorld, task: str, perturbation: str
) -> None:
    scenes = []
    for seed in (0, 1, 0):
        info = world.reset(task, seed, perturbation)
        assert info.instruction and info.objects
        scenes.append((info, object_positions(world)))
        # Nothing fell off the table or flew away while settling.
        for position in scenes[-1][1].values():
            assert -0.02 < position[2] < 0.3 and 0.2 < position[0] < 0.9
        assert world.progress()[0] == 0.0
    (first, a), (second, b), (again, c) = scenes
    assert first == again
    for label in a:
        np.testing.assert_allclose(a[label], c[label], atol=1e-9)
    assert any(not np.allclose(a[k], b.get(k, np.zeros(3)), atol=1e-4) for k in a) or first != second


def test_perturbation_axes_change_what_they_say(world: SimWorld) -> None:
    nominal = world.reset("ball_in_bowl", 3, "none")
    language = world.reset("ball_in_bowl", 3, "language")
    assert language.instruction != nominal.instruction and "bowl" in language.instruction
    new_object = world.reset("ball_in_bowl", 3, "new_object")
    assert new_object.objects[0] != "tennis ball" and new_object.objects[0] in new_object.instruction
    world.reset("ball_in_bowl", 3, "visual")
    visual_rgba = world.model.geom("tennis_ball/0").rgba.copy()
    world.reset("ball_in_bowl", 3, "none")
    assert not np.allclose(visual_rgba, world.model.geom("tennis_ball/0").rgba)


def test_bad_resets_name_the_valid_choices(world: SimWorld) -> None:
    with pytest.raises(NotFoundError, match="available tasks: ball_in_bowl"):
        world.reset("juggle", 0)
    with pytest.raises(InvalidArgumentError, match="valid: none, visual, pose, new_object, language"):
        world.reset("ball_in_bowl", 0, "earthquake")


def test_ball_placed_in_the_bowl_scores_100_and_untouched_scores_0(world: SimWorld) -> None:
    world.reset("ball_in_bowl", 5)
    world.step_for(0.5)
    assert world.progress()[0] == 0.0
    bowl = world.position("bowl")
    world.set_object_pose("tennis ball", bowl + [0.0, 0.0, 0.04])
    world.step_for(1.0)
    score, stages = world.progress()
    assert score == 100.0
    assert stages[-1].reached


def test_clean_table_scores_order(world: SimWorld) -> None:
    world.reset("clean_table", 2)
    order = world.task.by_size()
    bowl = world.position("bowl")
    world.set_object_pose(order[1], bowl + [0.0, 0.0, 0.05])  # second largest first: half points
    world.step_for(0.8)
    assert world.progress()[0] == 15.0
    world.reset("clean_table", 2)
    for k, label in enumerate(order):
        world.set_object_pose(label, world.position("bowl") + [0.03 * (k - 1), 0.0, 0.06 + 0.07 * k])
        world.step_for(0.8)
    assert world.progress()[0] == 100.0


def test_trajectory_validation_names_limits_and_joints(world: SimWorld) -> None:
    names = list(world.limits.names)
    with pytest.raises(InvalidArgumentError, match="arm joints: panda_joint1"):
        validate_trajectory(world.limits, ["elbow"], [1.0], [[0.0]])
    with pytest.raises(InvalidArgumentError, match="NaN"):
        validate_trajectory(world.limits, names, [1.0], [[float("nan")] * 7])
    with pytest.raises(OutOfLimitsError, match=r"panda_joint4 in \[-3.0718, -0.0698\]"):
        validate_trajectory(world.limits, names, [1.0], [[0, 0, 0, 0.5, 0, 1.5, 0]])
    with pytest.raises(InvalidArgumentError, match="strictly increasing"):
        validate_trajectory(world.limits, names, [1.0, 1.0], [list(HOME), list(HOME)])


def test_arm_follows_a_joint_trajectory(world: SimWorld) -> None:
    world.reset("ball_in_bowl", 0)
    goal = np.array(HOME) + [0.4, 0.2, 0.0, 0.3, 0.0, -0.2, 0.0]
    trajectory = validate_trajectory(
        world.limits, list(world.limits.names), [1.0, 2.0], [list((np.array(HOME) + goal) / 2), list(goal)]
    )
    world.start_trajectory(trajectory)
    world.step_for(1.0)
    midway = world.arm_positions()
    world.step_for(2.0)
    np.testing.assert_allclose(world.arm_positions(), goal, atol=0.02)
    assert np.abs(midway - (np.array(HOME) + goal) / 2).max() < 0.1


def test_rendered_frames_and_segmentation(world: SimWorld) -> None:
    world.reset("ball_in_bowl", 0)
    cameras = world.render_cameras()
    frame = cameras.frame(world.data, "scene")
    assert frame.rgb.shape == (240, 320, 3) and frame.depth.shape == (240, 320)
    table_depth = np.median(frame.depth[200:, :])
    assert 0.3 < table_depth < 2.0
    ids = world.segmentation("scene")
    ball = world.instance_labels.index("tennis ball")
    assert (ids == ball).sum() > 20
    # The ball's pixels back-project to the ball's position in the base frame.
    k, pose = cameras.intrinsics("scene"), cameras.pose(world.data, "scene")
    rows, cols = np.nonzero(ids == ball)
    z = frame.depth[rows, cols]
    points = np.stack([(cols - k[0, 2]) * z / k[0, 0], (rows - k[1, 2]) * z / k[1, 1], z, np.ones_like(z)])
    centre = (pose @ points)[:3].mean(axis=1)
    assert np.linalg.norm(centre[:2] - world.position("tennis ball")[:2]) < 0.02
    with pytest.raises(NotFoundError, match="cameras: scene, wrist"):
        cameras.intrinsics("thermal")


def test_scenes_command_writes_a_png_per_task(tmp_path, artifacts_dir) -> None:
    from maestro_agent.cli import main

    assert (
        main(["scenes", "--out", str(artifacts_dir / "scenes"), "--camera", "scene", "--camera", "wrist"])
        == 0
    )
    for task in TASKS:
        for camera in ("scene", "wrist"):
            assert (artifacts_dir / "scenes" / f"{task}_none_0_{camera}.png").stat().st_size > 10_000
    assert main(["scenes", "--out", str(tmp_path), "--task", "juggle"]) == 2
