"""What the house tasks share: their base class and the perturbations every house scene gets.

``vary_house`` applies the axes to the default house (``HouseSetup``): ``pose`` shuffles and moves the
table toys and moves the robot's start and the garbage can; ``visual`` recolours every toy (its label's
colour word follows, and labels stay unique) and tints the furniture; ``none`` and the other axes jitter
the same poses by a centimetre. Tasks add their own: the hiding place, the swapped target (``new_object``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from maestro_tools.sim.mobile.house import CAN_CENTER, ROBOT_START, TABLE_HEIGHT, HouseSetup, Plush
from maestro_tools.sim.tasks.base import StagedTask, Variation

if TYPE_CHECKING:
    from maestro_tools.sim.mobile.world import MobileWorld  # noqa: F401 - named (as a string) in a base

# Toys that ``new_object`` brings in: label -> (kind, size, rgb). The balls are sized as the house's own
# (6-6.4 cm, house.py): a near-rigid simulated ball as wide as the PiPER's 7 cm opening cannot be grasped
# where a real plush one squashes (the 7.2 cm purple one failed every grasp, its box 1 mm too wide).
NEW_PLUSH = {
    "purple plush ball": ("ball", 0.032, (0.55, 0.25, 0.8)),
    "red plush bear": ("bear", 0.045, (0.85, 0.15, 0.15)),
    "cyan plush ball": ("ball", 0.031, (0.2, 0.8, 0.85)),
}
FURNITURE = {"door": (0.55, 0.36, 0.22), "sofa": (0.30, 0.36, 0.55), "can": (0.25, 0.32, 0.28)}
FURNITURE |= {"shelf": (0.82, 0.76, 0.66), "basket": (0.62, 0.45, 0.25)}
LIFTED = 0.05  # m above where the toy rested after the reset
RECOLOUR_TRIES = 30


class HouseTask(StagedTask[HouseSetup, "MobileWorld"]):
    """A task in the house: build() edits the default ``HouseSetup`` (toys, can, basket, robot start,
    tints) and returns the task objects' labels; check() reads a ``MobileWorld``."""


def table_toys(setup: HouseSetup) -> list[Plush]:
    return [p for p in setup.plush if p.z >= TABLE_HEIGHT - 1e-6]


def vary_house(
    setup: HouseSetup, variation: Variation, robot_start: tuple[tuple[float, float], float] = ROBOT_START
) -> dict[str, str]:
    """The shared perturbations, in place; the robot starts near ``robot_start`` (the task's nominal).
    Returns each toy's label -> its label now (``visual`` renames recoloured toys)."""
    on_table = table_toys(setup)
    order = variation.rng.permutation(len(on_table)) if variation.axis == "pose" else range(len(on_table))
    spots = [on_table[i].xy for i in order]
    moved = {}
    for toy, spot in zip(on_table, spots, strict=True):  # shuffled (pose), then moved by up to 6 cm
        x, y = variation.xy(spot, large=0.06)
        moved[toy.label] = replace(toy, xy=(x, y), yaw=variation.yaw())
    setup.plush = [moved.get(p.label, p) for p in setup.plush]
    (x, y), yaw = robot_start
    x, y = variation.xy((x, y))  # a centimetre
    if variation.axis == "pose":  # back and to the right, away from the table beside the nominal start
        x, y = x + float(variation.rng.uniform(-0.2, 0.1)), y + float(variation.rng.uniform(-0.25, 0.03))
    setup.robot_start = ((x, y), variation.yaw(yaw, large=0.4))
    cx, cy = variation.xy(CAN_CENTER, large=0.25)
    setup.can_center = (cx, cy)
    if variation.axis == "visual":
        for name, rgb in FURNITURE.items():
            red, green, blue, _ = variation.color((*rgb, 1.0))
            setup.tints[name] = (red, green, blue)
        return recolour(setup, variation)
    return {p.label: p.label for p in setup.plush}


def recolour(setup: HouseSetup, variation: Variation) -> dict[str, str]:
    """Recolour every toy; a label's colour word names its new colour, and no two toys share a label.
    Returns old label -> new label."""
    renamed: dict[str, str] = {}
    toys: list[Plush] = []
    for toy in setup.plush:
        for _ in range(RECOLOUR_TRIES):
            rgba = variation.color((*toy.rgb, 1.0))
            label = variation.name(toy.label, rgba)
            if label not in renamed.values():
                break
        else:
            raise RuntimeError(f"no unique colour found for {toy.label!r}")
        renamed[toy.label] = label
        toys.append(replace(toy, label=label, rgb=(rgba[0], rgba[1], rgba[2])))
    setup.plush = toys
    return renamed


def swap_toy(setup: HouseSetup, label: str, variation: Variation) -> str:
    """Replace the toy ``label`` with a new one (``NEW_PLUSH``) at the same place; the new label."""
    taken = {p.label for p in setup.plush}
    new = str(variation.choice([name for name in NEW_PLUSH if name not in taken]))
    kind, size, rgb = NEW_PLUSH[new]
    setup.plush = [replace(p, label=new, kind=kind, size=size, rgb=rgb) if p.label == label else p
                   for p in setup.plush]  # fmt: skip
    return new


def planar_distance(a: np.ndarray, b: np.ndarray | tuple[float, float]) -> float:
    return float(np.hypot(a[0] - b[0], a[1] - b[1]))
