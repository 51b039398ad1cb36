"""Trash out the green plush ball into the garbage can: grasped 25, lifted 40, above the can 70, in the
can (released) 100.

``new_object`` swaps the ball for another toy (the instruction names it); ``pose`` moves the toys on
the table, the can and the robot's start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from maestro_tools.sim.mobile.house import CAN_HEIGHT, CAN_RADIUS, HouseSetup
from maestro_tools.sim.mobile.tasks.common import LIFTED, HouseTask, swap_toy, vary_house
from maestro_tools.sim.tasks.base import Stage, Variation

if TYPE_CHECKING:
    from maestro_tools.sim.mobile.world import MobileWorld

TARGET = "green plush ball"
CAN = "garbage can"


class TrashBall(HouseTask):
    name = "trash_ball"
    instruction = "Trash out the {target} into the garbage can."
    paraphrases = (
        "Throw the {target} away in the garbage can.",
        "Put the {target} into the garbage can.",
        "Dispose of the {target} by dropping it into the trash can.",
        "Take the {target} off the table and bin it in the garbage can.",
    )
    stages = (
        Stage("toy grasped", 25),
        Stage("toy lifted", 40),
        Stage("toy above the can", 70),
        Stage("toy in the can", 100),
    )

    def __init__(self) -> None:
        self.target = TARGET

    @property
    def words(self) -> Mapping[str, str]:
        return {"target": self.target}

    def build(self, scene: HouseSetup, variation: Variation) -> list[str]:
        self.target = vary_house(scene, variation)[TARGET]
        if variation.axis == "new_object":
            self.target = swap_toy(scene, self.target, variation)
        return [self.target, CAN]

    def check(self, world: MobileWorld) -> dict[str, bool]:
        grasped = world.grasped(self.target)
        toy, can = world.position(self.target), world.position(CAN)
        over = float(((toy[:2] - can[:2]) ** 2).sum() ** 0.5) < CAN_RADIUS - 0.02
        height = toy[2] - can[2]
        return {
            "toy grasped": grasped,
            "toy lifted": grasped and world.height_above_rest(self.target) > LIFTED,
            "toy above the can": over and height > CAN_HEIGHT,
            "toy in the can": over and 0.0 < height < CAN_HEIGHT and not grasped,
        }
