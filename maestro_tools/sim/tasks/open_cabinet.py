"""Open the lower cabinet door by pulling the yellow door handle.

A fixed cabinet with two compartments faces the robot; the lower door turns on a vertical hinge.
Stages: handle grasped 30, door open 15 degrees 50, 45 degrees 75, 80 degrees 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from maestro_tools.sim.scene import SceneBuilder, slug
from maestro_tools.sim.tasks.base import Stage, Task, Variation

if TYPE_CHECKING:
    from maestro_tools.sim.world import SimWorld

WIDTH, DEPTH, HEIGHT, WALL = 0.32, 0.26, 0.38, 0.01
YELLOW = (0.95, 0.8, 0.1, 1.0)
OPEN_STAGES = ((15, 50), (45, 75), (80, 100))  # degrees, points


class OpenCabinet(Task):
    name = "open_cabinet"
    instruction = "Open the lower cabinet door by pulling the yellow door {part}."
    paraphrases = (
        "Pull the yellow door {part} to swing the lower cabinet door open.",
        "Swing open the bottom door of the cabinet using its yellow {part}.",
        "Get the lower cabinet door open; tug on the yellow {part}.",
    )
    stages = (Stage("handle grasped", 30), *(Stage(f"door open {d} degrees", p) for d, p in OPEN_STAGES))

    def __init__(self) -> None:
        self.part = "handle"

    @property
    def words(self) -> Mapping[str, str]:
        return {"part": self.part}

    @property
    def handle(self) -> str:
        return f"yellow door {self.part}"

    def build(self, scene: SceneBuilder, variation: Variation) -> list[str]:
        box = mujoco.mjtGeom.mjGEOM_BOX
        x, y = variation.xy([0.78, 0.0], large=0.04)
        yaw = variation.yaw(0.0, large=0.25)
        colour = variation.color((0.55, 0.4, 0.3, 1.0))
        cabinet = scene.fixed_body("cabinet", [x, y, 0.0], yaw)
        panels = {  # centre, half size, in the cabinet frame (front face at -DEPTH/2, facing the robot)
            "back": ([DEPTH / 2 - WALL / 2, 0, HEIGHT / 2], [WALL / 2, WIDTH / 2, HEIGHT / 2]),
            "left": ([0, WIDTH / 2 - WALL / 2, HEIGHT / 2], [DEPTH / 2, WALL / 2, HEIGHT / 2]),
            "right": ([0, -WIDTH / 2 + WALL / 2, HEIGHT / 2], [DEPTH / 2, WALL / 2, HEIGHT / 2]),
            "top": ([0, 0, HEIGHT - WALL / 2], [DEPTH / 2, WIDTH / 2, WALL / 2]),
            "bottom": ([0, 0, WALL / 2], [DEPTH / 2, WIDTH / 2, WALL / 2]),
            "shelf": ([0, 0, HEIGHT / 2], [DEPTH / 2, WIDTH / 2, WALL / 2]),
            "upper door": (
                [-DEPTH / 2 - WALL / 2, 0, HEIGHT * 0.75],
                [WALL / 2, WIDTH / 2, HEIGHT / 4 - 0.003],
            ),
        }
        for centre, half in panels.values():
            scene.geom(cabinet, "cabinet", type=box, pos=centre, size=half, rgba=colour)
        scene.geom(
            cabinet,
            "cabinet",
            type=box,
            pos=[-DEPTH / 2 - 0.025, 0.0, HEIGHT * 0.62],
            size=[0.012, 0.05, 0.008],
            rgba=[0.3, 0.3, 0.3, 1],
        )  # the upper door's grey handle
        upper = [-DEPTH / 2 - 0.025, 0.0, HEIGHT * 0.62]
        cabinet.add_site(name="upper door/handle", pos=upper, size=[0.005, 0, 0], group=4)
        # Lower door: hinged on the left edge (seen from the robot), swinging towards the robot.
        hinge_y = WIDTH / 2
        door = cabinet.add_body(name="lower_door", pos=[-DEPTH / 2 - WALL / 2, hinge_y, 0.0])
        door.add_site(name="lower door/hinge", pos=[0, 0, HEIGHT / 4], size=[0.005, 0, 0], group=4)
        door.add_joint(
            name="lower_door/hinge",
            type=mujoco.mjtJoint.mjJNT_HINGE,
            axis=[0, 0, 1],
            range=[-1.9, 0.0],
            damping=0.2,
            frictionloss=0.05,
        )
        scene.geom(
            door,
            "cabinet",
            type=box,
            pos=[0, -WIDTH / 2, HEIGHT / 4 + 0.002],
            size=[WALL / 2, WIDTH / 2 - 0.003, HEIGHT / 4 - 0.004],
            rgba=colour,
            mass=0.4,
        )
        if variation.axis == "new_object":
            self.part = "knob"
        handle = door.add_body(name=slug(self.handle), pos=[-0.035, -WIDTH + 0.04, HEIGHT / 4])
        handle.add_site(name=f"lower door/{self.part}", size=[0.005, 0, 0], group=4)
        if self.part == "knob":
            scene.geom(
                handle,
                self.handle,
                type=mujoco.mjtGeom.mjGEOM_SPHERE,
                size=[0.018, 0, 0],
                rgba=YELLOW,
                mass=0.02,
            )
            scene.geom(
                handle,
                self.handle,
                type=mujoco.mjtGeom.mjGEOM_CYLINDER,
                size=[0.007, 0.015, 0],
                pos=[0.015, 0, 0],
                quat=[0.7071, 0, 0.7071, 0],
                rgba=YELLOW,
                mass=0.01,
            )
        else:
            scene.geom(handle, self.handle, type=box, size=[0.008, 0.008, 0.05], rgba=YELLOW, mass=0.02)
            for dz in (-0.04, 0.04):  # standoffs to the door
                scene.geom(
                    handle,
                    self.handle,
                    type=box,
                    pos=[0.015, 0, dz],
                    size=[0.012, 0.006, 0.006],
                    rgba=YELLOW,
                    mass=0.005,
                )
        return ["cabinet", self.handle]

    def opening(self, world: SimWorld) -> float:
        """Door opening in degrees."""
        joint = world.model.joint("lower_door/hinge")
        return float(-np.degrees(world.data.qpos[world.model.jnt_qposadr[joint.id]]))

    def check(self, world: SimWorld) -> dict[str, bool]:
        opening = self.opening(world)
        flags = {"handle grasped": world.grasped(self.handle)}
        flags.update({f"door open {d} degrees": opening >= d for d, _ in OPEN_STAGES})
        return flags
