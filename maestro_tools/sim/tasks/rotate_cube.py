"""Rotate the cube so that one of the purple sides faces up.

The cube has two opposite purple faces, both on its sides at the start. Stages: grasped 30,
turned (a purple face tilted more than 60 degrees up) 60, a purple face up and the cube resting
on the table 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from maestro_tools.sim.scene import SceneBuilder
from maestro_tools.sim.tasks.base import Stage, Task, Variation

if TYPE_CHECKING:
    from maestro_tools.sim.world import SimWorld

PURPLE = (0.5, 0.15, 0.7, 1.0)
OTHER_COLOURS = ((0.85, 0.15, 0.1, 1.0), (0.1, 0.6, 0.25, 1.0), (0.95, 0.8, 0.1, 1.0), (0.95, 0.5, 0.1, 1.0))
# face normal (cube frame) -> index into the colour list; the purple pair is +x/-x
FACES = ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1))


class RotateCube(Task):
    name = "rotate_cube"
    instruction = "Rotate the {item} so that one of the purple side faces up."
    paraphrases = (
        "Turn the {item} so a purple face points up.",
        "Flip the {item} until one of its purple sides is on top.",
        "Roll the {item} over so that a purple face is facing the ceiling.",
    )
    stages = (Stage("cube grasped", 30), Stage("cube turned", 60), Stage("purple side up", 100))

    def __init__(self) -> None:
        self.item = "cube"

    @property
    def words(self) -> Mapping[str, str]:
        return {"item": self.item}

    def build(self, scene: SceneBuilder, variation: Variation) -> list[str]:
        half = np.full(3, 0.025 * variation.scale(0.9, 1.2))
        if variation.axis == "new_object":
            self.item = "block"
            half[1] *= 1.5  # a longer block: the purple faces stay the +-x ends
        x, y = variation.xy([0.5, 0.05])
        body = scene.box(
            self.item, [x, y, half[2] + 0.001], half, (0.6, 0.6, 0.6, 1.0), 0.08, variation.yaw()
        )
        colours = [variation.color(c) for c in OTHER_COLOURS]
        order = variation.rng.permutation(len(colours))
        for k, normal in enumerate(FACES):
            normal = np.asarray(normal, float)
            rgba = PURPLE if k < 2 else colours[order[k - 2]]
            axis = int(np.argmax(np.abs(normal)))
            size = half.copy() * 0.92
            size[axis] = 0.0008
            scene.geom(
                body,
                self.item,
                type=mujoco.mjtGeom.mjGEOM_BOX,
                size=size.tolist(),
                pos=(normal * (half + 0.0008)).tolist(),
                rgba=list(rgba),
                contype=0,
                conaffinity=0,
                mass=0.0001,
            )
            if k < 2:  # named parts: the centres of the two purple faces
                centre = (normal * (half + 0.0016)).tolist()
                body.add_site(
                    name=f"{self.item}/purple_face_{k + 1}", pos=centre, size=[0.005, 0, 0], group=4
                )
        return [self.item]

    def purple_up(self, world: SimWorld) -> float:
        """Largest z component of the two purple face normals in the world frame."""
        rotation = world.rotation(self.item)
        return float(max(rotation[2, 0], -rotation[2, 0]))

    def check(self, world: SimWorld) -> dict[str, bool]:
        up = self.purple_up(world)
        grasped = world.grasped(self.item)
        on_table = world.height_above_table(self.item) < 0.04
        return {
            "cube grasped": grasped,
            "cube turned": up > 0.5,
            "purple side up": up > 0.9 and not grasped and on_table and world.resting(self.item),
        }
