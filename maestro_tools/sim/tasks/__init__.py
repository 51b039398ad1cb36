"""The registry of simulated tabletop tasks, by name."""

from __future__ import annotations

from maestro_tools.common.errors import NotFoundError
from maestro_tools.sim.tasks.ball_in_bowl import BallInBowl
from maestro_tools.sim.tasks.base import PERTURBATIONS, Stage, Task, Variation
from maestro_tools.sim.tasks.clean_table import CleanTable
from maestro_tools.sim.tasks.erase_whiteboard import EraseWhiteboard
from maestro_tools.sim.tasks.fold_towel import FoldTowel
from maestro_tools.sim.tasks.hang_mug import HangMug
from maestro_tools.sim.tasks.open_cabinet import OpenCabinet
from maestro_tools.sim.tasks.rotate_cube import RotateCube

TASKS: dict[str, type[Task]] = {}
for _task in (BallInBowl, CleanTable, EraseWhiteboard, RotateCube, OpenCabinet, HangMug, FoldTowel):
    if _task.name in TASKS:
        raise RuntimeError(f"two tasks are named {_task.name!r}")
    TASKS[_task.name] = _task


def make_task(name: str) -> Task:
    """A fresh task instance, or NotFoundError listing the available tasks."""
    if name not in TASKS:
        raise NotFoundError(f"unknown task {name!r}; available tasks: {', '.join(TASKS)}")
    return TASKS[name]()


__all__ = ["PERTURBATIONS", "TASKS", "Stage", "Task", "Variation", "make_task"]
