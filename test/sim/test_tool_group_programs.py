"""The tool-group ablation's S0 program (config/programs/ball_in_bowl_s0.yaml) perceives as it claims: it
finds the item and the bowl from the colours their names suggest in the wrist camera and lifts them with the
depth image, so it finds them where they are, and finds nothing once the visual axis recolours them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from maestro_agent.data.collect import camera_frame
from maestro_agent.proxy.types import Observation
from maestro_agent.scripted_programs import load_program
from maestro_tools.sim.world import SimWorld

ROOT = Path(__file__).resolve().parents[2]


class ObservingRobot:
    """The one S0 call the helper makes, answered from the simulation's rendered wrist camera."""

    def __init__(self, world: SimWorld) -> None:
        self.frame = camera_frame(world, "wrist")

    def get_observation(self, camera: str = "") -> Observation:
        f = self.frame
        return Observation(f.camera, f.rgb, f.depth, f.intrinsics, f.camera_pose)


def helpers(robot: ObservingRobot) -> dict:
    code = load_program(ROOT / "config/programs/ball_in_bowl_s0.yaml").steps[0].code
    namespace = {"np": np, "robot": robot}
    exec(code[: code.index("robot.move_home()")], namespace)  # the definitions before the first motion
    return namespace


@pytest.mark.parametrize(("axis", "seed", "item"), [("none", 0, "tennis ball"), ("new_object", 0, "orange")])
def test_the_s0_program_finds_the_item_and_the_bowl_where_they_are(axis: str, seed: int, item: str) -> None:
    robot = ObservingRobot(SimWorld("ball_in_bowl", seed, axis))
    find = helpers(robot)["find"]
    frame = robot.frame
    for name in (item, "bowl"):
        instance = next(i for i, label in frame.labels.items() if label == name)
        truth = frame.base_points(frame.instances == instance)
        centre, top = find(name)
        assert np.linalg.norm(centre[:2] - truth.mean(axis=0)[:2]) < 0.015, name
        assert abs(top - truth[:, 2].max()) < 0.01, name


def test_the_s0_program_finds_nothing_once_the_colours_change() -> None:
    find = helpers(ObservingRobot(SimWorld("ball_in_bowl", 0, "visual")))["find"]
    with pytest.raises(RuntimeError, match="no pixels coloured like the tennis ball in the wrist camera"):
        find("tennis ball")
