"""Fold the four corners of the towel to the center.

The towel is a MuJoCo flex: a 2D grid of vertex bodies joined by edge constraints, which the
gripper can pinch and the table and cloth collide with. A corner counts as folded when it lies on
top of the cloth within 5 cm (horizontally) of the towel's centre vertex. Stages: one corner 25,
two 50, three 75, all four 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from maestro_tools.sim.scene import SceneBuilder, quat_z
from maestro_tools.sim.tasks.base import Stage, Task, Variation

if TYPE_CHECKING:
    from maestro_tools.sim.world import SimWorld

FOLDED_RADIUS = 0.05

TOWEL_XML = """
<mujoco>
  <worldbody>
    <flexcomp name="cloth" type="grid" count="{n} {n} 1" spacing="{spacing} {spacing} {spacing}"
              radius="0.003"
              dim="2" rgba="{rgba}" mass="{mass}">
      <contact condim="3" solref="0.01 1" selfcollide="auto"/>
      <edge equality="true" damping="0.05"/>
    </flexcomp>
  </worldbody>
</mujoco>
"""


class FoldTowel(Task):
    name = "fold_towel"
    instruction = "Fold the four corners of the {item} to the center."
    paraphrases = (
        "Bring each corner of the {item} to its middle.",
        "Tuck all four corners of the {item} into the center.",
        "Fold the {item} so that its four corners meet in the middle.",
    )
    stages = tuple(Stage(f"{k} corner{'s' if k > 1 else ''} folded", 25 * k) for k in range(1, 5))

    def __init__(self) -> None:
        self.item, self.count = "towel", 9

    @property
    def words(self) -> Mapping[str, str]:
        return {"item": self.item}

    def build(self, scene: SceneBuilder, variation: Variation) -> list[str]:
        spacing = 0.03 * variation.scale(0.9, 1.1)
        rgba = (0.25, 0.55, 0.85, 1.0)
        if variation.axis == "new_object":
            self.item, self.count, spacing, rgba = "napkin", 7, 0.028, (0.9, 0.85, 0.75, 1.0)
        rgba = variation.color(rgba)
        cloth = mujoco.MjSpec.from_string(
            TOWEL_XML.format(
                n=self.count, spacing=spacing, rgba=" ".join(f"{c:.3f}" for c in rgba), mass=0.06
            )
        )
        self._name_corners(cloth)
        x, y = variation.xy([0.5, 0.0], large=0.05)
        frame = scene.spec.worldbody.add_frame(pos=[x, y, 0.004], quat=quat_z(variation.yaw(0.0, large=0.5)))
        frame.attach_body(cloth.worldbody, f"{self.item}/", "")
        scene.flex_labels[f"{self.item}/cloth"] = self.item
        scene.body_names[self.item] = f"{self.item}/world"
        return [self.item]

    def _name_corners(self, cloth: mujoco.MjSpec) -> None:
        """A site on each corner vertex, named as seen from the robot ("front_left_corner": front = nearer
        the robot, left = +y) before the towel is turned (by at most 0.5 rad)."""
        n = self.count
        for corner in (0, n - 1, n * (n - 1), n * n - 1):
            body = cloth.body(f"cloth_{corner}")
            x, y = body.pos[0], body.pos[1]
            name = f"{'front' if x < 0 else 'back'}_{'left' if y > 0 else 'right'}_corner"
            body.add_site(name=name, size=[0.005, 0, 0], group=4)

    def vertices(self, world: SimWorld) -> np.ndarray:
        flex = mujoco.mj_name2id(world.model, mujoco.mjtObj.mjOBJ_FLEX, f"{self.item}/cloth")
        start, count = world.model.flex_vertadr[flex], world.model.flex_vertnum[flex]
        return world.data.flexvert_xpos[start : start + count]

    def folded_corners(self, world: SimWorld) -> int:
        points = self.vertices(world)
        n = self.count
        centre = points[(n * n) // 2]
        folded = 0
        for corner in (0, n - 1, n * (n - 1), n * n - 1):
            offset = points[corner] - centre
            folded += bool(np.linalg.norm(offset[:2]) < FOLDED_RADIUS and offset[2] > 0.002)
        return folded

    def check(self, world: SimWorld) -> dict[str, bool]:
        folded = self.folded_corners(world)
        return {stage.name: folded >= k for k, stage in enumerate(self.stages, start=1)}
