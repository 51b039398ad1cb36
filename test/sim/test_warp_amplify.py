"""The data engine in simulation: a scripted ball_in_bowl demonstration warped to two perturbed scenes,
replayed (kept only at progress 100), exported as a LeRobot dataset and verified; a demonstration whose
motion does not match its recorded objects is replayed and rejected."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from maestro_agent.data.amplify import amplify
from maestro_agent.data.collect import SceneSetting, correspondences
from maestro_agent.data.dataset import export, verify
from maestro_agent.data.synthetic import pick_and_place
from maestro_tools.motion.kinematics import ArmKinematics
from maestro_tools.sim.world import SimWorld
from test.sim.franka_cell import HOME, franka_model


def test_a_demonstration_warps_to_perturbed_scenes_and_exports(tmp_path: Path) -> None:
    world = SimWorld("ball_in_bowl", 0, width=320, height=240)
    try:
        objects = correspondences(world)  # from the scene camera, as collect takes them
        demo = pick_and_place(ArmKinematics(franka_model()), HOME, objects, "tennis ball", "bowl",
                              world.info.instruction)  # fmt: skip
    finally:
        world.close()
    settings = [SceneSetting("ball_in_bowl", seed, "pose") for seed in (3, 4)]
    report = amplify([demo], settings, tmp_path / "amplified", fps=5, image_every=3)
    assert report.tried == 2 and report.kept == 2, report.to_json()
    dataset = export(tmp_path / "amplified", tmp_path / "dataset", fps=5)
    check = verify(dataset)
    assert check.ok and check.episodes == 2, check.summary()


def test_a_replay_that_fails_is_not_kept(tmp_path: Path) -> None:
    """The grasp was planned 8 cm beside the ball the demonstration says it saw: the warped replay misses."""
    world = SimWorld("ball_in_bowl", 0, width=320, height=240)
    try:
        objects = correspondences(world)
        beside = {**objects, "tennis ball": objects["tennis ball"] + np.array([0.0, 0.08, 0.0])}
        demo = pick_and_place(ArmKinematics(franka_model()), HOME, beside, "tennis ball", "bowl",
                              world.info.instruction)  # fmt: skip
    finally:
        world.close()
    report = amplify([replace(demo, objects=objects)], [SceneSetting("ball_in_bowl", 3, "pose")],
                     tmp_path / "amplified", fps=5, render=False)  # fmt: skip
    assert report.tried == 1 and report.kept == 0, report.to_json()
    assert sum(report.failures.values()) == 1 and not list((tmp_path / "amplified" / "episodes").iterdir())
