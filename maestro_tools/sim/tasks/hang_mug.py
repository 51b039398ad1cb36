"""Hang the mug cup onto the mug hanger stand.

A mug (open cylinder with a loop handle) stands on the table; a stand with a horizontal peg is
fixed beside it. Stages: mug grasped 30, lifted 50, handle at the peg 70, hanging from the peg
(not held, off the table, at rest) 100.
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

STAND = "mug hanger stand"
PEG_HEIGHT, PEG_LENGTH = 0.26, 0.11


class HangMug(Task):
    name = "hang_mug"
    instruction = "Hang the {item} onto the mug hanger stand."
    paraphrases = (
        "Put the {item} on the hook of the mug stand by its handle.",
        "Hook the {item}'s handle over the peg of the mug hanger.",
        "Suspend the {item} from the mug hanger stand.",
    )
    stages = (
        Stage("mug grasped", 30),
        Stage("mug lifted", 50),
        Stage("handle at the peg", 70),
        Stage("mug hanging", 100),
    )

    def __init__(self) -> None:
        self.item = "mug cup"

    @property
    def words(self) -> Mapping[str, str]:
        return {"item": self.item}

    def build(self, scene: SceneBuilder, variation: Variation) -> list[str]:
        box, cylinder = mujoco.mjtGeom.mjGEOM_BOX, mujoco.mjtGeom.mjGEOM_CYLINDER
        radius, height = 0.038 * variation.scale(0.9, 1.1), 0.09
        colour = (0.9, 0.9, 0.88, 1.0)
        if variation.axis == "new_object":
            self.item, radius, height, colour = "blue cup", 0.033, 0.105, (0.2, 0.35, 0.85, 1.0)
        colour = variation.color(colour)
        x, y = variation.xy([0.48, 0.18])
        mug = scene.free_body(self.item, [x, y, 0.002], variation.yaw(np.pi / 2))
        scene.geom(
            mug, self.item, type=cylinder, size=[radius, 0.004, 0], pos=[0, 0, 0.004], rgba=colour, mass=0.08
        )
        segments = 16
        for i in range(segments):
            angle = 2 * np.pi * i / segments
            scene.geom(
                mug,
                self.item,
                type=box,
                size=[0.003, radius * np.tan(np.pi / segments) * 1.1, height / 2],
                pos=[radius * np.cos(angle), radius * np.sin(angle), height / 2],
                quat=quat_z(angle),
                rgba=colour,
                mass=0.012,
            )
        # Loop handle on the mug's +x side: two arms and an outer bar (the hole is 30 x 50 mm).
        for dz in (height * 0.78, height * 0.22):
            scene.geom(
                mug,
                self.item,
                type=box,
                size=[0.02, 0.006, 0.005],
                pos=[radius + 0.017, 0, dz],
                rgba=colour,
                mass=0.005,
            )
        scene.geom(
            mug,
            self.item,
            type=box,
            size=[0.005, 0.006, height * 0.28 + 0.005],
            pos=[radius + 0.035, 0, height / 2],
            rgba=colour,
            mass=0.006,
        )
        # Named parts (ground-truth keypoints for the sim keypointer): the handle's hole, the rim opposite it.
        mug.add_site(name="mug/handle", pos=[radius + 0.02, 0, height / 2], size=[0.005, 0, 0], group=4)
        mug.add_site(name="mug/rim", pos=[-radius, 0, height], size=[0.005, 0, 0], group=4)

        sx, sy = variation.xy([0.62, -0.12], large=0.04)
        stand = scene.fixed_body(STAND, [sx, sy, 0.0], variation.yaw(0.0, large=0.3))
        wood = variation.color((0.45, 0.3, 0.18, 1.0))
        scene.geom(stand, STAND, type=cylinder, size=[0.07, 0.008, 0], pos=[0, 0, 0.008], rgba=wood)
        scene.geom(
            stand,
            STAND,
            type=cylinder,
            size=[0.011, PEG_HEIGHT / 2 + 0.03, 0],
            pos=[0, 0, PEG_HEIGHT / 2 + 0.03],
            rgba=wood,
        )
        tilt = 0.25  # radians; the peg rises towards its tip so a hung mug stays on
        root = np.array([0.0, 0.0, PEG_HEIGHT])
        direction = np.array([-np.cos(tilt), 0.0, np.sin(tilt)])  # towards the robot side of the stand
        peg_quat = np.zeros(4)
        mujoco.mju_euler2Quat(peg_quat, [0.0, tilt - np.pi / 2, 0.0], "xyz")  # cylinder z -> direction
        middle = root + direction * PEG_LENGTH / 2
        scene.geom(
            stand,
            STAND,
            type=cylinder,
            size=[0.006, PEG_LENGTH / 2, 0],
            pos=middle.tolist(),
            quat=peg_quat.tolist(),
            rgba=wood,
        )
        stand.add_site(name="stand/peg_middle", pos=middle.tolist(), size=[0.005, 0, 0], group=4)
        tip = root + direction * PEG_LENGTH
        stand.add_site(name="stand/peg_tip", pos=tip.tolist(), size=[0.005, 0, 0], group=4)
        return [self.item, STAND]

    def check(self, world: SimWorld) -> dict[str, bool]:
        handle = world.data.site_xpos[world.model.site("mug/handle").id]
        peg = world.data.site_xpos[world.model.site("stand/peg_middle").id]
        grasped = world.grasped(self.item)
        lifted = world.height_above_table(self.item) > 0.05
        at_peg = float(np.linalg.norm(handle - peg)) < 0.06
        hanging = (
            at_peg
            and lifted
            and not grasped
            and world.resting(self.item)
            and world.touching(self.item, world.geoms_of(STAND))
        )
        return {
            "mug grasped": grasped,
            "mug lifted": grasped and lifted,
            "handle at the peg": at_peg,
            "mug hanging": hanging,
        }
