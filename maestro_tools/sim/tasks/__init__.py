"""The registry of simulated tabletop tasks, by name."""

from __future__ import annotations

from maestro_tools.sim.tasks.ball_in_bowl import BallInBowl
from maestro_tools.sim.tasks.base import PERTURBATIONS, Stage, Task, TaskRegistry, Variation
from maestro_tools.sim.tasks.clean_table import CleanTable
from maestro_tools.sim.tasks.erase_whiteboard import EraseWhiteboard
from maestro_tools.sim.tasks.fold_towel import FoldTowel
from maestro_tools.sim.tasks.hang_mug import HangMug
from maestro_tools.sim.tasks.open_cabinet import OpenCabinet
from maestro_tools.sim.tasks.rotate_cube import RotateCube

_REGISTRY = TaskRegistry[Task](
    (BallInBowl, CleanTable, EraseWhiteboard, RotateCube, OpenCabinet, HangMug, FoldTowel)
)
TASKS = _REGISTRY.tasks
make_task = _REGISTRY.make


__all__ = ["PERTURBATIONS", "TASKS", "Stage", "Task", "Variation", "make_task"]
