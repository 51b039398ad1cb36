"""Put the tennis ball into the bowl: grasped 30, lifted 50, above the bowl 70, resting in the bowl 100."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from maestro_tools.sim.scene import SceneBuilder
from maestro_tools.sim.tasks.base import Stage, Task, Variation

if TYPE_CHECKING:
    from maestro_tools.sim.world import SimWorld

BOWL = "bowl"
BOWL_RADIUS, BOWL_HEIGHT = 0.08, 0.045
# label, shape, size (radius or half extent), rgba, mass
ITEMS = {
    "tennis ball": ("sphere", 0.033, (0.8, 0.9, 0.2, 1.0), 0.057),
    "orange": ("sphere", 0.036, (1.0, 0.55, 0.05, 1.0), 0.08),
    "red apple": ("sphere", 0.037, (0.8, 0.08, 0.1, 1.0), 0.09),
    "green cube": ("box", 0.024, (0.15, 0.7, 0.25, 1.0), 0.06),
}


class BallInBowl(Task):
    name = "ball_in_bowl"
    instruction = "Put the {item} into the bowl."
    paraphrases = (
        "Drop the {item} in the bowl.",
        "Place the {item} inside the bowl.",
        "Transfer the {item} into the bowl.",
        "Move the {item} so that it ends up in the bowl.",
    )
    stages = (
        Stage("item grasped", 30),
        Stage("item lifted", 50),
        Stage("item above the bowl", 70),
        Stage("item resting in the bowl", 100),
    )

    def __init__(self) -> None:
        self.item = "tennis ball"

    @property
    def words(self) -> Mapping[str, str]:
        return {"item": self.item}

    def build(self, scene: SceneBuilder, variation: Variation) -> list[str]:
        if variation.axis == "new_object":
            self.item = str(variation.choice([k for k in ITEMS if k != "tennis ball"]))
        shape, size, rgba, mass = ITEMS[self.item]
        size *= variation.scale(0.9, 1.1)
        x, y = variation.xy([0.5, 0.15])
        if shape == "sphere":
            scene.sphere(self.item, [x, y, size + 0.001], size, variation.color(rgba), mass)
        else:
            scene.box(
                self.item, [x, y, size + 0.001], [size] * 3, variation.color(rgba), mass, variation.yaw()
            )
        bx, by = variation.xy([0.55, -0.18])
        scene.bowl(
            BOWL,
            [bx, by, 0.001],
            BOWL_RADIUS * variation.scale(0.95, 1.1),
            BOWL_HEIGHT,
            variation.color((0.2, 0.45, 0.85, 1.0)),
        )
        return [self.item, BOWL]

    def check(self, world: SimWorld) -> dict[str, bool]:
        grasped = world.grasped(self.item)
        height = world.height_above_table(self.item)
        over = world.horizontal_distance(self.item, BOWL) < BOWL_RADIUS
        in_bowl = over and world.inside_container(self.item, BOWL, BOWL_RADIUS, BOWL_HEIGHT)
        return {
            "item grasped": grasped,
            "item lifted": grasped and height > 0.05,
            "item above the bowl": over and height > BOWL_HEIGHT,
            "item resting in the bowl": in_bowl and not grasped and world.resting(self.item),
        }
