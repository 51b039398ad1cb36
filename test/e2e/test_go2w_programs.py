"""The Go2-W + PiPER's scripted reference programs for "trash out the green plush ball" and "search for
the orange plush ball and return when grasped", end to end: the whole go2w_piper bringup under
`maestro launch go2w_piper vlm:=scripted`, the nominal scene (seed 0), the scene's own instruction as a
RunTask goal, scored by the sim's rubric. trash_ball (grasped 25, lifted 40, above the can 70, in the
can 100) must reach "above the can"; find_ball (near 10, grasped 30, lifted 50, back at the start
holding it 100) must bring the ball back. trash_ball, tools only: the head
camera finds the table and the can, the wrist camera raised over the table top finds the toy, the
semantic map gives the table's box, the base stands by the table, grasping.pick, a drive to the can
through navigation (its grid keeps the mapped furniture and filters out the arm and the toy it holds),
and a release over the can. find_ball: base.search from viewpoints behind the furniture, go_near
crouching for the floor toy behind the sofa, grasping.pick, stand, carry and drive back.

The sweep over seeds and perturbation axes is a benchmark (bench/program_sweep.py --robot go2w_piper;
figures in the README).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from maestro_agent.evaluation.sweep import Setting, SimGraph, TrialRecord, run_trial


@pytest.fixture(scope="module")
def graph() -> Iterator[SimGraph]:
    with SimGraph("go2w_piper", ["vlm:=scripted", "task:=trash_ball", "real_time_factor:=3.0"]) as running:
        yield running
    assert "Traceback" not in running.log_tail(200_000), running.log_tail()


def _nominal_runs(graph: SimGraph, task: str, enough: float) -> list[TrialRecord]:
    """Up to two trials of ``task``'s nominal scene, until one scores ``enough``: the rate is the sweep's
    to measure, and one trial alone made these tests flaky; two failures in a row point at a regression."""
    records = []
    for _ in range(2):
        record = run_trial(Setting(task, seed=0, axis="none"), server_timeout_s=180.0)
        print(f"{task}: {record.progress:.0f} in {record.seconds:.0f} s, {record.substeps} substeps")
        assert not record.error, (record.error, graph.log_tail())
        records.append(record)
        if record.progress >= enough:
            break
    assert records[-1].progress >= enough, ([(r.summary, r.progress) for r in records], graph.log_tail())
    return records


@pytest.mark.timeout(900)
def test_the_program_trashes_the_ball_through_run_task(graph: SimGraph) -> None:
    # The toy held over the can (70). The program fails about one run in four or five (README:
    # trash_ball; a grasp's wrist short of the can's middle, navigation beside the table under load).
    _nominal_runs(graph, "trash_ball", 70)


@pytest.mark.timeout(900)
def test_the_program_finds_the_ball_and_brings_it_back_through_run_task(graph: SimGraph) -> None:
    # Back at the start holding it (100), judged a success (README: find_ball, 9 and 7 of 10 settings in
    # two sweeps).
    assert _nominal_runs(graph, "find_ball", 100)[-1].success
