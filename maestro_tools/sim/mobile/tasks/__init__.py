"""The registry of the house's tasks (Go2-W + PiPER), by name."""

from __future__ import annotations

from maestro_tools.sim.mobile.tasks.collect_toys import CollectToys
from maestro_tools.sim.mobile.tasks.common import HouseTask
from maestro_tools.sim.mobile.tasks.find_ball import FindBall
from maestro_tools.sim.mobile.tasks.open_door import OpenDoor
from maestro_tools.sim.mobile.tasks.trash_ball import TrashBall
from maestro_tools.sim.tasks.base import PERTURBATIONS, TaskRegistry

_REGISTRY = TaskRegistry[HouseTask]((OpenDoor, FindBall, TrashBall, CollectToys))
HOUSE_TASKS = _REGISTRY.tasks
make_house_task = _REGISTRY.make


__all__ = ["HOUSE_TASKS", "PERTURBATIONS", "HouseTask", "make_house_task"]
