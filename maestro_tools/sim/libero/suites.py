"""LIBERO task names as Maestro sees them, and the install check. Plain Python: no LIBERO import here.

A task is ``<suite>/<index>`` (``libero_object/3``); a ResetScene ``seed`` is the initial state's index
(0..49), and its ``perturbation`` picks a LIBERO-PRO variant suite of the same task: ``position``
(``<suite>_swap``: objects' positions swapped), ``task`` (``_task``: a replaced task), ``language``
(``_lan``), ``object`` (``_object``: replaced objects). Maestro's sweep axes name two of them
differently (``pose`` = position, ``new_object`` = object), and a variant suite may be named in the task
itself (``libero_object_task/3`` = ``libero_object/3`` with perturbation ``task``).
"""

from __future__ import annotations

from dataclasses import dataclass

SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10")
TASKS_PER_SUITE = 10
# Maestro perturbation axis -> LIBERO-PRO suite suffix.
PERTURBATIONS = {"none": "", "position": "_swap", "task": "_task", "language": "_lan", "object": "_object"}
ALIASES = {"pose": "position", "new_object": "object", "": "none"}  # Maestro's sweep axes
# Steps (20 Hz) the LIBERO protocol allows per suite; "no-op" steps after set_init_state.
STEP_CAPS = {"libero_spatial": 220, "libero_object": 280, "libero_goal": 300, "libero_10": 520}
SETTLE_STEPS = 10

TASKS = tuple(f"{suite}/{index}" for suite in SUITES for index in range(TASKS_PER_SUITE))
# Every task name a reset accepts (``maestro eval`` checks a sweep's tasks against it): the tasks, then
# the same tasks named by their LIBERO-PRO variant suite (``libero_object_task/3``).
TASK_NAMES = TASKS + tuple(
    f"{suite}{suffix}/{index}"
    for suffix in PERTURBATIONS.values()
    if suffix
    for suite in SUITES
    for index in range(TASKS_PER_SUITE)
)


class LiberoTaskError(ValueError):
    """An unknown suite, task, initial state or perturbation; the message names the valid ones."""


@dataclass(frozen=True)
class TaskRef:
    suite: str  # a base suite (SUITES)
    index: int  # task index in the suite
    init: int  # initial state index
    perturbation: str = "none"

    @property
    def benchmark_suite(self) -> str:
        """The suite LIBERO loads: the base suite, or its LIBERO-PRO variant."""
        return self.suite + PERTURBATIONS[self.perturbation]

    @property
    def name(self) -> str:
        return f"{self.suite}/{self.index}"


def parse_task(task: str, init: int = 0, perturbation: str = "none") -> TaskRef:
    """``libero_object/3`` (or ``libero_object:3``) -> TaskRef; raises LiberoTaskError naming the valid."""
    suite, sep, index = task.replace(":", "/").partition("/")
    perturbation = ALIASES.get(perturbation, perturbation)
    for axis, suffix in PERTURBATIONS.items():
        if suffix and suite.endswith(suffix) and suite[: -len(suffix)] in SUITES:
            if perturbation not in ("none", axis):
                raise LiberoTaskError(f"task {task!r} is the {axis} variant; got {perturbation!r}")
            suite, perturbation = suite[: -len(suffix)], axis
    if suite not in SUITES:
        raise LiberoTaskError(f"unknown LIBERO suite {suite!r}; valid: {', '.join(SUITES)}")
    if not sep or not index.isdigit() or not 0 <= int(index) < TASKS_PER_SUITE:
        raise LiberoTaskError(f"task {task!r}: want <suite>/<index 0..{TASKS_PER_SUITE - 1}>, e.g. {suite}/0")
    if perturbation not in PERTURBATIONS:
        valid = ", ".join([*PERTURBATIONS, *(a for a in ALIASES if a)])
        raise LiberoTaskError(f"unknown perturbation {perturbation!r}; valid: {valid}")
    if init < 0:
        raise LiberoTaskError(f"initial state {init} must be >= 0")
    return TaskRef(suite, int(index), int(init), perturbation)


def bddl_language(bddl: str) -> str:
    """The instruction a BDDL problem states (``(:language ...)``), "" when it states none. LIBERO's task
    objects derive theirs from the file name, which LIBERO-PRO's task variants keep while their BDDL names
    another goal ("pick_up_the_alphabet_soup..." asks for the cream cheese)."""
    start = bddl.find("(:language")
    if start < 0:
        return ""
    end = bddl.find(")", start)
    return " ".join(bddl[start + len("(:language") : end if end > 0 else None].split())


def check_install() -> None:
    """Raise ImportError naming ``make setup-libero`` when LIBERO (or its reference MuJoCo) is missing."""
    try:
        import libero.libero.benchmark  # noqa: F401
        import mujoco
    except ImportError as exc:
        raise ImportError(f"LIBERO is not installed here ({exc}): run 'make setup-libero'") from exc
    if not mujoco.__version__.startswith("2.3."):
        raise ImportError(f"LIBERO needs mujoco 2.3.x, found {mujoco.__version__}: run 'make setup-libero'")
