"""The data engine in simulation: a scripted ball_in_bowl demonstration warped to two perturbed scenes,
replayed (kept only at progress 100), exported as a LeRobot dataset and verified."""

from __future__ import annotations

from pathlib import Path

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
