"""The VLA path end to end: `maestro launch franka vlm:=scripted vla:=warp` runs the warp policy server on
demonstrations made here (scripted pick-and-places on nominal scenes, no files committed) and the
vla_bridge; the agent gets its vla tool and replays ball_in_bowl_vla, whose vla.run does the
pick-and-place on a pose-perturbed scene (the bridge sends the detector's objects as correspondences).
RunTask must succeed (the program's tools take over if the policy misses); the bridge must have run the
policy's chunks until its plan ended (DONE) or, on a loaded machine, its time ran out. About 3 minutes
on 2 cores.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from maestro_agent.data.collect import correspondences
from maestro_agent.data.synthetic import pick_and_place
from maestro_agent.evaluation.sweep import Setting, SimGraph, run_trial
from maestro_tools.motion.kinematics import ArmKinematics
from maestro_tools.robots import get_robot
from maestro_tools.robots.model import RobotModel
from maestro_tools.sim.world import SimWorld

DEMO_SEEDS = (0, 1)
ENDED = re.compile(r"run_policy ended (\w+) \((\d+) chunks, ([\d.]+) ms mean chunk latency\)")
TRIAL = Setting("ball_in_bowl", seed=10, axis="pose")


def make_demonstrations(folder: Path) -> Path:
    """Scripted ball_in_bowl demonstrations, objects located from the scene camera as collect does."""
    profile = get_robot("franka")
    assert profile.arm is not None
    kinematics, home = ArmKinematics(RobotModel(profile)), np.array(profile.arm.home)
    folder.mkdir(parents=True, exist_ok=True)
    world = SimWorld("ball_in_bowl", DEMO_SEEDS[0], width=320, height=240)
    try:
        for seed in DEMO_SEEDS:
            world.reset("ball_in_bowl", seed)
            objects = correspondences(world)
            instruction = world.info.instruction
            demo = pick_and_place(kinematics, home, objects, "tennis ball", "bowl", instruction)
            demo.save(folder / f"scripted_{seed}.npz")
    finally:
        world.close()
    return folder


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimGraph]:
    demos = make_demonstrations(tmp_path_factory.mktemp("vla") / "demos")
    arguments = ["vlm:=scripted", "vla:=warp", f"vla_demos:={demos}", "real_time_factor:=3.0"]
    with SimGraph("franka", arguments) as running:
        yield running
    assert "Traceback" not in running.log_tail(200_000), running.log_tail()


@pytest.mark.timeout(300)
def test_the_vla_puts_the_ball_into_the_bowl_on_a_perturbed_scene(graph: SimGraph) -> None:
    record = run_trial(TRIAL, server_timeout_s=150.0)
    log = "".join(graph.lines)
    print(f"{record.progress:.0f} in {record.seconds:.0f} s, {record.substeps} substeps: {record.summary}")
    assert not record.error, (record.error, graph.log_tail())
    assert record.success and record.progress == 100, (record.summary, graph.log_tail())
    ended = [m for m in map(ENDED.search, log.splitlines()) if m]
    assert ended, graph.log_tail()  # vla.run was called and the bridge drove the arm from the policy's chunks
    reason, chunks = ended[0].group(1), int(ended[0].group(2))
    print(f"the first run_policy ended {reason} after {chunks} chunks, {ended[0].group(3)} ms per chunk")
    assert reason in ("DONE", "TIMEOUT") and chunks >= 10, ended[0].group(0)  # TIMEOUT: a loaded machine
