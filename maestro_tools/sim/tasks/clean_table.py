"""Clean the table by putting all the items into the bowl, from big size to small size.

Order matters: the n-th item to enter the bowl earns its stage's points in full when it is the
n-th largest, and half of them otherwise. Stages: largest first 30, second 30, smallest last 40.
An item leaves the order once it has been out of the bowl for ``OUT_FOR`` s: a bump that tips the can
over the rim for a moment, while the next item goes in, does not reorder what was put in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from maestro_tools.sim.scene import SceneBuilder
from maestro_tools.sim.tasks.base import Stage, Task, Variation

if TYPE_CHECKING:
    from maestro_tools.sim.world import SimWorld

BOWL = "bowl"
BOWL_RADIUS, BOWL_HEIGHT = 0.11, 0.05
# label -> (shape, half size, rgba, mass); sizes are distinct so "big to small" has one answer
ITEMS = {
    "red block": ("box", 0.030, (0.85, 0.12, 0.1, 1.0), 0.12),
    "green can": ("cylinder", 0.024, (0.1, 0.65, 0.3, 1.0), 0.08),
    "blue cube": ("box", 0.016, (0.15, 0.3, 0.9, 1.0), 0.03),
}
NEW_ITEMS = {
    "yellow ball": ("sphere", 0.027, (0.95, 0.85, 0.1, 1.0), 0.05),
    "purple cube": ("box", 0.020, (0.55, 0.2, 0.75, 1.0), 0.04),
}
SPOTS = ([0.42, 0.18], [0.58, 0.22], [0.45, 0.0])
OUT_FOR = 1.0  # s of sim time out of the bowl before an item that was in it no longer counts


class CleanTable(Task):
    name = "clean_table"
    instruction = "Clean the table by putting all the items into the bowl, from big size to small size."
    paraphrases = (
        "Tidy the table: drop every item into the bowl, biggest first and smallest last.",
        "Clear the table by placing the objects in the bowl in order of decreasing size.",
        "Gather all the items into the bowl, starting with the largest and ending with the smallest.",
    )
    stages = (
        Stage("largest item in the bowl first", 30),
        Stage("second largest item next", 30),
        Stage("smallest item last", 40),
    )

    def __init__(self) -> None:
        self.sizes: dict[str, float] = {}
        self.order: list[str] = []  # items in the order they entered the bowl
        self.out_since: dict[str, float] = {}  # sim time each item in the order was last seen leave

    def build(self, scene: SceneBuilder, variation: Variation) -> list[str]:
        items = dict(ITEMS)
        if variation.axis == "new_object":
            replaced = str(variation.choice(list(items)))
            new = str(variation.choice(list(NEW_ITEMS)))
            shape, _, rgba, mass = NEW_ITEMS[new]
            items = {
                new if k == replaced else k: (shape, v[1], rgba, mass) if k == replaced else v
                for k, v in items.items()
            }
        spots = [SPOTS[i] for i in variation.rng.permutation(len(SPOTS))]
        labels = []
        for (label, (shape, half, rgba, mass)), spot in zip(items.items(), spots, strict=True):
            x, y = variation.xy(spot, large=0.04)
            rgba = variation.color(rgba)
            label = variation.name(label, rgba)  # a recoloured "red block" is named by its new colour
            labels.append(label)
            if shape == "box":
                scene.box(label, [x, y, half + 0.001], [half] * 3, rgba, mass, variation.yaw())
            elif shape == "cylinder":
                scene.cylinder(label, [x, y, half * 1.4 + 0.001], half, half * 1.4, rgba, mass)
            else:
                scene.sphere(label, [x, y, half + 0.001], half, rgba, mass)
            self.sizes[label] = half
        bx, by = variation.xy([0.55, -0.2], large=0.03)
        scene.bowl(BOWL, [bx, by, 0.001], BOWL_RADIUS, BOWL_HEIGHT, variation.color((0.85, 0.85, 0.8, 1.0)))
        return [*labels, BOWL]

    def by_size(self) -> list[str]:
        return sorted(self.sizes, key=self.sizes.get, reverse=True)

    def on_step(self, world: SimWorld) -> None:
        for label in self.sizes:
            inside = world.horizontal_distance(label, BOWL) < BOWL_RADIUS and world.inside_container(
                label, BOWL, BOWL_RADIUS, BOWL_HEIGHT
            )
            if inside:
                self.out_since.pop(label, None)
                if label not in self.order and not world.grasped(label):
                    self.order.append(label)
            elif label in self.order:
                left = self.out_since.setdefault(label, world.time)
                if world.time - left >= OUT_FOR:
                    self.order.remove(label)
                    del self.out_since[label]

    def check(self, world: SimWorld) -> dict[str, bool]:
        expected = self.by_size()
        return {
            stage.name: len(self.order) > i and self.order[i] == expected[i]
            for i, stage in enumerate(self.stages)
        }

    def progress(self, reached: Mapping[str, bool]) -> float:
        expected = self.by_size()
        score = 0.0
        for i, label in enumerate(self.order):
            points = self.stages[i].points
            score += points if label == expected[i] else points / 2
        return score
