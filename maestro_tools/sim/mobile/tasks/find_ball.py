"""Search for the orange plush ball and return when grasped: near it 10, grasped 30, lifted 50, back at
the start holding it 100.

The ball lies on the floor between the sofa's back and the wall, 0.1 m in from the sofa's east
end (``pose``: or in another hiding place: behind the shelf's north end, beside the garbage can);
``new_object`` hides another toy instead (the instruction names it). "Back" means the base's centre
within ``RETURN_RADIUS`` of where it started.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from maestro_tools.sim.mobile.house import HIDDEN_BALL, HouseSetup
from maestro_tools.sim.mobile.tasks.common import LIFTED, HouseTask, planar_distance, swap_toy, vary_house
from maestro_tools.sim.tasks.base import Stage, Variation

if TYPE_CHECKING:
    from maestro_tools.sim.mobile.world import MobileWorld

# Hiding places on the floor (x, y) and how far along x/y (m) ``pose`` may move the toy in each.
HIDING_PLACES = (((1.95, -2.31), (0.1, 0.02)), ((4.55, 2.1), (0.08, 0.08)), ((4.45, -2.2), (0.1, 0.08)))
NEAR, RETURN_RADIUS = 1.0, 0.5  # m, base centre to the toy / to its start


class FindBall(HouseTask):
    name = "find_ball"
    instruction = "Search for the {target} and return when grasped."
    paraphrases = (
        "Look for the {target}, pick it up and bring it back here.",
        "Find the {target}, grasp it and come back to where you started.",
        "Hunt down the {target} and return holding it.",
        "Locate the {target}; once it is in the gripper, drive back to the start.",
    )
    stages = (
        Stage("near the toy", 10),
        Stage("toy grasped", 30),
        Stage("toy lifted", 50),
        Stage("back at the start holding the toy", 100),
    )

    def __init__(self) -> None:
        self.target = HIDDEN_BALL[0]

    @property
    def words(self) -> Mapping[str, str]:
        return {"target": self.target}

    def build(self, scene: HouseSetup, variation: Variation) -> list[str]:
        renamed = vary_house(scene, variation)
        self.target = renamed[HIDDEN_BALL[0]]
        (x, y), (sx, sy) = HIDING_PLACES[0]
        if variation.axis == "pose":
            (x, y), (sx, sy) = HIDING_PLACES[int(variation.rng.integers(len(HIDING_PLACES)))]
        dx, dy = (float(variation.rng.uniform(-s, s)) if variation.axis == "pose" else 0.0 for s in (sx, sy))
        scene.plush = [replace(p, xy=(x + dx, y + dy)) if p.label == self.target else p for p in scene.plush]
        if variation.axis == "new_object":
            self.target = swap_toy(scene, self.target, variation)
        return [self.target]

    def check(self, world: MobileWorld) -> dict[str, bool]:
        base = world.base_state().position
        toy = world.position(self.target)
        grasped = world.grasped(self.target)
        start, _ = world.layout.robot_start
        return {
            "near the toy": planar_distance(base, toy) < NEAR,
            "toy grasped": grasped,
            "toy lifted": grasped and world.height_above_rest(self.target) > LIFTED,
            "back at the start holding the toy": grasped and planar_distance(base, start) < RETURN_RADIUS,
        }
