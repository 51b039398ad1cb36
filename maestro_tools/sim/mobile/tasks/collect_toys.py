"""Collect all plush toys on the white table: each toy that starts on the table earns 25 once it lies in
the toy basket (released).

"Collect" here means: take every plush toy off the white table and put it into the toy basket that
stands on the floor by the table's west end (the scene shows it; the paraphrases name it). A toy counts
from the moment it lies in the basket, not held, and stays counted (stages latch): stage k is reached
when k different toys have been in the basket. Points: 25 per toy (four toys). ``new_object`` swaps one
toy for another; ``pose`` shuffles the toys and moves the basket, the can and the robot's start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from maestro_tools.sim.mobile.house import BASKET_HALF, BASKET_HEIGHT, HouseSetup
from maestro_tools.sim.mobile.tasks.common import HouseTask, swap_toy, table_toys, vary_house
from maestro_tools.sim.tasks.base import Stage, Variation

if TYPE_CHECKING:
    from maestro_tools.sim.mobile.world import MobileWorld

BASKET = "toy basket"
BASKET_CENTER = (1.62, 1.45)  # on the floor, 0.17 m west of the table


class CollectToys(HouseTask):
    name = "collect_toys"
    instruction = "Collect all plush toys on the white table."
    paraphrases = (
        "Gather every plush toy from the white table into the toy basket.",
        "Put all the plush toys that are on the white table into the basket.",
        "Clear the plush toys off the white table and collect them in the toy basket.",
        "Move each plush toy on the white table into the toy basket.",
    )
    stages = (
        Stage("one toy in the basket", 25),
        Stage("two toys in the basket", 25),
        Stage("three toys in the basket", 25),
        Stage("all four toys in the basket", 25),
    )

    def __init__(self) -> None:
        self.toys: list[str] = []
        self.collected: set[str] = set()

    def build(self, scene: HouseSetup, variation: Variation) -> list[str]:
        vary_house(scene, variation)
        x, y = variation.xy(BASKET_CENTER, large=0.08)
        scene.basket_center = (x, y)
        if variation.axis == "new_object":
            swap_toy(scene, str(variation.choice([p.label for p in table_toys(scene)])), variation)
        self.toys = [p.label for p in table_toys(scene)]
        if len(self.toys) != len(self.stages):
            raise RuntimeError(f"collect_toys scores {len(self.stages)} toys; the table has {self.toys}")
        self.collected = set()
        return [*self.toys, BASKET]

    def in_basket(self, world: MobileWorld, label: str) -> bool:
        relative = world.position(label) - world.position(BASKET)
        inside = all(abs(relative[k]) < BASKET_HALF[k] for k in (0, 1))
        return inside and 0.0 < relative[2] < BASKET_HEIGHT + 0.02 and not world.grasped(label)

    def on_step(self, world: MobileWorld) -> None:
        self.collected |= {label for label in self.toys if self.in_basket(world, label)}

    def check(self, world: MobileWorld) -> dict[str, bool]:
        return {stage.name: len(self.collected) > i for i, stage in enumerate(self.stages)}

    def progress(self, reached: Mapping[str, bool]) -> float:
        return sum(s.points for s in self.stages if reached.get(s.name))
