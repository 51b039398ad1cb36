"""Write a PNG of each task's scene camera image, so a person can look at every scene."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2

from maestro_tools.sim.tasks import TASKS
from maestro_tools.sim.world import SimWorld


def write_snapshots(
    out: Path,
    tasks: Iterable[str] | None = None,
    seed: int = 0,
    perturbation: str = "none",
    cameras: Iterable[str] = ("scene",),
    width: int = 640,
    height: int = 480,
) -> list[Path]:
    """Reset each task and save ``<out>/<task>_<perturbation>_<seed>_<camera>.png``; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    world: SimWorld | None = None
    written = []
    try:
        for task in tasks or TASKS:
            if world is None:
                world = SimWorld(task, seed, perturbation, width=width, height=height)
            else:
                world.reset(task, seed, perturbation)
            renderer = world.render_cameras()
            for camera in cameras:
                path = out / f"{task}_{perturbation}_{seed}_{camera}.png"
                cv2.imwrite(str(path), cv2.cvtColor(renderer.rgb(world.data, camera), cv2.COLOR_RGB2BGR))
                written.append(path)
    finally:
        if world is not None:
            world.close()
    return written
