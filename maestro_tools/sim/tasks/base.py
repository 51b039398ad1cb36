"""What a simulated task is: a scene builder, instructions, perturbations and a staged progress rubric."""

from __future__ import annotations

import colorsys
import zlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError, NotFoundError
from maestro_tools.perception.colours import recoloured
from maestro_tools.sim.scene import SceneBuilder

if TYPE_CHECKING:
    from maestro_tools.sim.world import SimWorld  # noqa: F401 - named (as a string) in Task's base

PERTURBATIONS = ("none", "visual", "pose", "new_object", "language")
_T = TypeVar("_T")


def check_reset(seed: int, perturbation: str) -> str:
    """The perturbation axis of a reset request ("" = none); a clear error naming what is valid."""
    perturbation = perturbation or "none"
    if perturbation not in PERTURBATIONS:
        raise InvalidArgumentError(
            f"unknown perturbation {perturbation!r}; valid: {', '.join(PERTURBATIONS)}"
        )
    if seed < 0:
        raise InvalidArgumentError(f"seed must be >= 0; got {seed}")
    return perturbation


class TaskRegistry(Generic[_T]):
    """Task classes by their unique ``name``; ``make`` gives a fresh instance."""

    def __init__(self, tasks: Sequence[type[_T]]) -> None:
        self.tasks: dict[str, type[_T]] = {}
        for task in tasks:
            name = task.name  # type: ignore[attr-defined]
            if name in self.tasks:
                raise RuntimeError(f"two tasks are named {name!r}")
            self.tasks[name] = task

    def make(self, name: str) -> _T:
        """A fresh task instance, or NotFoundError listing the available tasks."""
        if name not in self.tasks:
            raise NotFoundError(f"unknown task {name!r}; available tasks: {', '.join(self.tasks)}")
        return self.tasks[name]()


SHADE = 0.72  # rendered / material colour of a lit object in the cell's scene camera (measured)
S = TypeVar("S")  # what a task's build() adds its objects to (a scene builder, a house setup)
W = TypeVar("W")  # the world a task's check() reads (SimWorld, MobileWorld)


@dataclass(frozen=True)
class Stage:
    """One rung of a progress rubric: reaching it is worth ``points`` (of 100)."""

    name: str
    points: float


class Variation:
    """Seeded randomness of one reset along one perturbation axis (the STAR-Gen axes).

    ``none`` still jitters poses by a centimetre so that seeds differ; ``pose`` moves and turns
    objects by up to ``large`` metres; ``visual`` changes colours and sizes (and the colour words of
    labels: ``name``); ``new_object`` lets the task swap its manipulated object; ``language`` picks a
    paraphrase with another verb.
    """

    def __init__(self, task: str, seed: int, axis: str) -> None:
        self.seed, self.axis = seed, axis
        self.rng = np.random.default_rng([zlib.crc32(task.encode()), PERTURBATIONS.index(axis), seed])

    def xy(self, nominal: Sequence[float], large: float = 0.07) -> list[float]:
        spread = large if self.axis == "pose" else 0.01
        return [float(v + self.rng.uniform(-spread, spread)) for v in nominal]

    def yaw(self, nominal: float = 0.0, large: float = np.pi / 3) -> float:
        spread = large if self.axis == "pose" else 0.05
        return float(nominal + self.rng.uniform(-spread, spread))

    def color(self, rgba: Sequence[float]) -> list[float]:
        if self.axis != "visual":
            return list(rgba)
        hue, lightness, saturation = colorsys.rgb_to_hls(*rgba[:3])
        hue = (hue + self.rng.uniform(0.15, 0.85)) % 1.0
        red, green, blue = colorsys.hls_to_rgb(hue, lightness, min(1.0, saturation + 0.1))
        return [red, green, blue, rgba[3]]

    def name(self, label: str, rgba: Sequence[float]) -> str:
        """The label for an object drawn in ``rgba``: under ``visual`` a colour word in it names the colour
        the object now has ("red block" drawn purple is the "purple block"), so that labels, and the
        sim-truth detector that reports them, describe what the cameras see."""
        if self.axis != "visual":
            return label
        return recoloured(label, [255.0 * SHADE * c for c in rgba[:3]])

    def scale(self, low: float = 0.85, high: float = 1.15) -> float:
        return float(self.rng.uniform(low, high)) if self.axis == "visual" else 1.0

    def choice(self, options: Sequence[object]) -> object:
        return options[int(self.rng.integers(len(options)))]


class StagedTask(ABC, Generic[S, W]):
    """A task of any simulated world: instructions, paraphrases and a staged rubric. Subclasses set the
    class attributes and implement build() (objects into a scene ``S``) and check() (stages in ``W``)."""

    name: ClassVar[str]
    instruction: ClassVar[str]
    paraphrases: ClassVar[tuple[str, ...]]  # the same task with other action verbs
    stages: ClassVar[tuple[Stage, ...]]
    faithful: ClassVar[bool] = True  # False would mark a scene whose physics cannot score the task

    def reset(self, scene: S, variation: Variation) -> tuple[str, list[str]]:
        """Add the task's objects to ``scene``; return the instruction and the task objects' labels."""
        objects = self.build(scene, variation)
        instruction = self.instruction
        if variation.axis == "language":
            instruction = str(variation.choice(self.paraphrases))
        return instruction.format(**self.words), objects

    @property
    def words(self) -> Mapping[str, str]:
        """Values for ``{placeholders}`` in the instruction (objects the variation chose)."""
        return {}

    @abstractmethod
    def build(self, scene: S, variation: Variation) -> list[str]:
        """Add objects; return the labels of the task objects."""

    @abstractmethod
    def check(self, world: W) -> dict[str, bool]:
        """Which stages hold in the current simulator state (stage name -> held now)."""

    def progress(self, reached: Mapping[str, bool]) -> float:
        """Score from the stages reached so far; by default the highest stage reached counts."""
        return max((s.points for s in self.stages if reached.get(s.name)), default=0.0)

    def on_step(self, world: W) -> None:  # an optional hook
        """Called at the scorer rate for tasks whose state evolves (erasing, order of placement)."""


class Task(StagedTask[SceneBuilder, "SimWorld"]):
    """A tabletop task: build() adds objects to the Franka cell's ``SceneBuilder``; check() reads a
    ``SimWorld``."""
