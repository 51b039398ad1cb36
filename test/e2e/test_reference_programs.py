"""The scripted reference programs of the tabletop tasks, end to end: the Franka graph with the scripted
backend, each task's nominal scene (seed 0), its own instruction as a RunTask goal, scored by the sim.

They are the e2e tests of the tools the programs use (grasp candidates, contact moves, arcs, skills). The
sweep over seeds and perturbation axes is a benchmark (bench/program_sweep.py; figures in the README).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from maestro_agent.evaluation.sweep import Setting, SimGraph, TrialRecord, run_trial, table
from maestro_tools.sim.tasks import TASKS as TABLETOP_TASKS

TASKS = tuple(TABLETOP_TASKS)  # every tabletop task has a reference program
RECORDS: dict[str, TrialRecord] = {}


@pytest.fixture(scope="module")
def graph() -> Iterator[SimGraph]:
    with SimGraph("franka", ["vlm:=scripted", "real_time_factor:=3.0"]) as running:
        yield running
    assert "Traceback" not in running.log_tail(200_000), running.log_tail()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("task", TASKS)
def test_the_reference_program_solves_the_nominal_scene(graph: SimGraph, task: str) -> None:
    record = RECORDS[task] = run_trial(Setting(task, seed=0, axis="none"))
    print(f"{task}: {record.progress:.0f} in {record.seconds:.0f} s, {record.substeps} substeps")
    assert not record.error, (record.error, graph.log_tail())
    assert record.progress >= 80, (record.summary, record.progress)


def test_the_mean_over_the_tasks_is_at_least_90() -> None:
    if len(RECORDS) < len(TASKS):
        pytest.skip(f"ran {len(RECORDS)} of {len(TASKS)} tasks")
    print(table(list(RECORDS.values())))
    assert sum(r.progress for r in RECORDS.values()) / len(RECORDS) >= 90
