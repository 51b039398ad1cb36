"""Fold the four corners of the towel to the center.

The towel is a MuJoCo flex: a 2D grid of vertex bodies joined by edge constraints, which the
gripper can pinch and the table and cloth collide with. A corner counts as folded when it lies on
top of the cloth within 5 cm (horizontally) of the towel's centre vertex. Stages: one corner 25,
two 50, three 75, all four 100.

The grid's triangles are laid out here (flexcomp "direct"), not by flexcomp "grid": that one
splits every cell along the same diagonal, and with inextensible edges a sheet folds flat only along
lines made of its edges. A corner folded onto the centre creases the cloth across the diagonal it
moves along, so two of the four corners (those moving along the cells' own diagonal) could not lie
flat: released, their flaps sprang back or stood up in a bunch (measured, no robot: a corner laid on
the centre sprang back to where it started within 0.6 s; bending stiffness does not help, and flex
elasticity would need MuJoCo's "discrete" integrator besides). Here each quarter's cells are split
along the diagonal across the one its corner folds along, so every corner-to-centre crease runs
along edges.
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
    <flexcomp name="cloth" type="direct" point="{points}" element="{elements}" radius="0.003"
              dim="2" rgba="{rgba}" mass="{mass}">
      <contact condim="3" solref="0.01 1" selfcollide="auto"/>
      <edge equality="true" damping="0.05"/>
    </flexcomp>
  </worldbody>
</mujoco>
"""


def cloth_mesh(n: int, spacing: float) -> tuple[list[tuple[float, float, float]], list[tuple[int, int, int]]]:
    """An ``n`` x ``n`` grid of points centred on the origin (point ``ix * n + iy`` at x index ``ix``, y
    index ``iy``, as flexcomp "grid" numbers them) and its triangles, counter-clockwise seen from above.
    A cell in the quarter of the corners at (-x, -y) or (+x, +y) is split along its (+1, -1) diagonal, one
    in the other two quarters along its (+1, +1) diagonal: across the direction its corner folds in."""
    half = (n - 1) / 2
    points = [((ix - half) * spacing, (iy - half) * spacing, 0.0) for ix in range(n) for iy in range(n)]
    elements = []
    for ix in range(n - 1):
        for iy in range(n - 1):
            a, b, c, d = ix * n + iy, (ix + 1) * n + iy, ix * n + iy + 1, (ix + 1) * n + iy + 1
            if (ix < half) == (iy < half):
                elements += [(a, b, c), (b, d, c)]
            else:
                elements += [(a, b, d), (a, d, c)]
    return points, elements


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
        points, elements = cloth_mesh(self.count, spacing)
        cloth = mujoco.MjSpec.from_string(
            TOWEL_XML.format(
                points=" ".join(f"{v:.5f}" for point in points for v in point),
                elements=" ".join(str(i) for element in elements for i in element),
                rgba=" ".join(f"{c:.3f}" for c in rgba),
                mass=0.06,
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
