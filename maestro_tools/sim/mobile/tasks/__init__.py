"""The registry of the house's tasks (Go2-W + PiPER), by name."""

from __future__ import annotations

from maestro_tools.common.errors import NotFoundError
from maestro_tools.sim.mobile.tasks.collect_toys import CollectToys
from maestro_tools.sim.mobile.tasks.common import HouseTask
from maestro_tools.sim.mobile.tasks.find_ball import FindBall
from maestro_tools.sim.mobile.tasks.open_door import OpenDoor
from maestro_tools.sim.mobile.tasks.trash_ball import TrashBall
from maestro_tools.sim.tasks.base import PERTURBATIONS

HOUSE_TASKS: dict[str, type[HouseTask]] = {}
for _task in (OpenDoor, FindBall, TrashBall, CollectToys):
    if _task.name in HOUSE_TASKS:
        raise RuntimeError(f"two house tasks are named {_task.name!r}")
    HOUSE_TASKS[_task.name] = _task


def make_house_task(name: str) -> HouseTask:
    """A fresh task instance, or NotFoundError listing the available house tasks."""
    if name not in HOUSE_TASKS:
        raise NotFoundError(f"unknown task {name!r}; available tasks: {', '.join(HOUSE_TASKS)}")
    return HOUSE_TASKS[name]()


__all__ = ["HOUSE_TASKS", "PERTURBATIONS", "HouseTask", "make_house_task"]
