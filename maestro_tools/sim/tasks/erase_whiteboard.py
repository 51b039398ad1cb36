"""Erase instructions on the whiteboard, then follow the instruction to stack cubes.

A whiteboard lies on the table with a marker-written instruction ("STACK RED ON BLUE", drawn
per seed) that the VLM must read from the camera. Wiping is modelled physically: the board's
text area is a grid of cells, and a cell is wiped once the eraser's pad, face down and touching the
board, has slid RUB_DISTANCE over it (a white cover then hides the cell's ink): a dropped eraser
or a dab erases nothing, a stroke erases what the pad passes over. Score: up to 40 points for the
fraction wiped, 50 once the top cube is grasped with the board at least 90 % clean, 100 once it is stacked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import cv2
import mujoco
import numpy as np

from maestro_tools.sim.scene import SceneBuilder
from maestro_tools.sim.tasks.base import Stage, Task, Variation

if TYPE_CHECKING:
    from maestro_tools.sim.world import SimWorld

BOARD, ERASER = "whiteboard", "eraser"
BOARD_HALF = (0.09, 0.16, 0.006)  # x (depth), y (width), z
CELLS = (3, 8)  # rows along x, columns along y
CUBES = {
    "red cube": (0.85, 0.12, 0.1, 1.0),
    "blue cube": (0.15, 0.3, 0.9, 1.0),
    "green cube": (0.1, 0.65, 0.3, 1.0),
}
CUBE_HALF = 0.022
PAD_HALF = (0.025, 0.05)  # the eraser's pad, half sizes along its x and y
RUB_DISTANCE = 0.03  # m the pad must slide over a cell, touching the board, to wipe it
PAD_DOWN = 0.9  # cosine: the eraser's z axis at least this close to vertical (the pad face down)


def text_texture(text: str, width: int = 512, height: int = 256) -> np.ndarray:
    """Black marker handwriting-like text on white, as an RGB texture."""
    image = np.full((height, width, 3), 250, np.uint8)
    words = text.split(" ")
    lines = [" ".join(words[:2]), " ".join(words[2:])]
    for row, line in enumerate(lines):
        cv2.putText(
            image, line, (24, 105 + row * 95), cv2.FONT_HERSHEY_DUPLEX, 2.1, (20, 20, 30), 7, cv2.LINE_AA
        )
    return image


class EraseWhiteboard(Task):
    name = "erase_whiteboard"
    instruction = "Erase instructions on the whiteboard, then follow the instruction to stack cubes."
    paraphrases = (
        "Wipe the writing off the whiteboard, then stack the cubes the way it said.",
        "Clean the whiteboard with the eraser and afterwards stack the cubes as written.",
        "Rub out the note on the whiteboard, then do what it asked with the cubes.",
    )
    stages = (Stage("board wiped", 40), Stage("top cube grasped", 50), Stage("cubes stacked", 100))

    def __init__(self) -> None:
        self.top, self.bottom = "red cube", "blue cube"
        self.wiped = np.zeros(CELLS, dtype=bool)
        self.rubbed = np.zeros(CELLS)  # m the pad has slid over each cell while touching the board
        self.pad_at: np.ndarray | None = None  # the pad's xy at the last step it touched the board
        self.cover_geoms: list[int] = []

    @property
    def written(self) -> str:
        return f"STACK {self.top.split()[0].upper()} ON {self.bottom.split()[0].upper()}"

    def build(self, scene: SceneBuilder, variation: Variation) -> list[str]:
        box = mujoco.mjtGeom.mjGEOM_BOX
        cubes = dict(CUBES)
        if variation.axis == "new_object":
            cubes["yellow cube"] = (0.95, 0.85, 0.1, 1.0)
        names = list(cubes)
        top, bottom = variation.rng.choice(len(names), size=2, replace=False)
        self.top, self.bottom = names[int(top)], names[int(bottom)]

        bx, by = variation.xy([0.5, 0.17], large=0.03)
        board = scene.fixed_body(BOARD, [bx, by, BOARD_HALF[2]])
        scene.geom(
            board, BOARD, type=box, size=list(BOARD_HALF), rgba=variation.color((0.97, 0.97, 0.97, 1.0))
        )
        # MuJoCo maps texture columns to the board's +x and rows to its -y: turn the text so that it reads
        # left to right for someone at the robot's base looking along +x.
        texture = np.ascontiguousarray(text_texture(self.written)[::-1].transpose(1, 0, 2))
        tex = scene.spec.add_texture(
            name="whiteboard_text",
            type=mujoco.mjtTexture.mjTEXTURE_2D,
            width=texture.shape[1],
            height=texture.shape[0],
            nchannel=3,
        )
        tex.data = texture.tobytes()
        scene.spec.add_material(name="whiteboard_text", textures=["", "whiteboard_text"])
        ink = [BOARD_HALF[0] * 0.8, BOARD_HALF[1] * 0.9, 0.0004]
        scene.geom(
            board,
            BOARD,
            type=box,
            size=ink,
            pos=[0, 0, BOARD_HALF[2] + 0.0004],
            material="whiteboard_text",
            contype=0,
            conaffinity=0,
        )
        board.add_site(name="whiteboard/writing", pos=[0, 0, BOARD_HALF[2]], size=[0.005, 0, 0], group=4)
        self.cell_size = (2 * ink[0] / CELLS[0], 2 * ink[1] / CELLS[1])
        self.cell_centres = []
        for row in range(CELLS[0]):
            for column in range(CELLS[1]):
                centre = [
                    -ink[0] + (row + 0.5) * self.cell_size[0],
                    -ink[1] + (column + 0.5) * self.cell_size[1],
                ]
                self.cell_centres.append(centre)
                scene.geom(
                    board,
                    BOARD,
                    type=box,
                    size=[self.cell_size[0] / 2, self.cell_size[1] / 2, 0.0004],
                    pos=[*centre, BOARD_HALF[2] + 0.0011],
                    rgba=[0.97, 0.97, 0.97, 0.0],
                    contype=0,
                    conaffinity=0,
                )

        ex, ey = variation.xy([0.38, 0.3], large=0.03)
        eraser = scene.box(
            ERASER,
            [ex, ey, 0.018],
            [*PAD_HALF, 0.017],
            variation.color((0.15, 0.2, 0.6, 1.0)),
            0.06,
            variation.yaw(np.pi / 2, large=0.4),
        )
        eraser.add_site(name="eraser/pad", pos=[0, 0, -0.017], size=[0.005, 0, 0], group=4)
        spots = [[0.42, -0.12], [0.55, -0.2], [0.62, -0.05], [0.38, -0.28]]
        for label, spot in zip(names, spots, strict=False):
            x, y = variation.xy(spot, large=0.03)
            scene.box(
                label,
                [x, y, CUBE_HALF + 0.001],
                [CUBE_HALF * variation.scale(0.9, 1.1)] * 3,
                cubes[label],
                0.05,
                variation.yaw(),
            )
        return [BOARD, ERASER, *names]

    def on_step(self, world: SimWorld) -> None:
        if not self.cover_geoms:  # the board geoms are: the board, the ink, then one cover per cell
            self.cover_geoms = [world.model.geom(f"whiteboard/{2 + k}").id for k in range(self.wiped.size)]
        rotation, centre = world.rotation(ERASER), world.position(ERASER)
        if self.wiped.all() or rotation[2, 2] < PAD_DOWN or not world.touching(ERASER, world.geoms_of(BOARD)):
            self.pad_at = None  # lifted, tipped over or done: the next touch starts a new stroke
            return
        slid = 0.0 if self.pad_at is None else float(np.linalg.norm(centre[:2] - self.pad_at))
        self.pad_at = centre[:2].copy()
        if slid == 0.0:
            return
        board = world.position(BOARD)
        for index, (x, y) in enumerate(self.cell_centres):
            local = rotation.T @ (np.array([board[0] + x, board[1] + y, centre[2]]) - centre)
            if abs(local[0]) < PAD_HALF[0] and abs(local[1]) < PAD_HALF[1]:
                self.rubbed.flat[index] += slid
                if self.rubbed.flat[index] >= RUB_DISTANCE and not self.wiped.flat[index]:
                    self.wiped.flat[index] = True
                    world.model.geom_rgba[self.cover_geoms[index], 3] = 1.0

    def check(self, world: SimWorld) -> dict[str, bool]:
        clean = self.wiped.mean() >= 0.9
        above = world.position(self.top) - world.position(self.bottom)
        stacked = (
            np.linalg.norm(above[:2]) < 0.025
            and 0.03 < above[2] < 0.06
            and not world.grasped(self.top)
            and world.resting(self.top)
        )
        return {
            "board wiped": clean,
            "top cube grasped": clean and world.grasped(self.top),
            "cubes stacked": clean and stacked,
        }

    def progress(self, reached: Mapping[str, bool]) -> float:
        staged = max((s.points for s in self.stages[1:] if reached.get(s.name)), default=0.0)
        return max(staged, 40.0 * float(self.wiped.mean()))
