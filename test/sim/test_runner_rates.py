"""The physics thread's idle economy: /clock at its own rate, joint states at the full rate only while
something happens, and idle waits that a command ends at once."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from maestro_tools.sim.control import validate_trajectory
from maestro_tools.sim.runner import Outputs, PhysicsRunner, RunnerConfig
from maestro_tools.sim.world import SimWorld
from test.polling import wait_for
from test.sim.franka_cell import HOME


class Recorder:
    """The runner's outputs, stamped with the wall clock."""

    def __init__(self) -> None:
        self.clock: list[float] = []
        self.joints: list[tuple[float, float]] = []  # (wall, sim stamp)
        self.watched = threading.Event()
        self.frames: list[float] = []

    def outputs(self) -> Outputs:
        return Outputs(
            clock=lambda t: self.clock.append(t),
            joint_state=lambda t, *_: self.joints.append((time.monotonic(), t)),
            frame=lambda camera, frame, *_: self.frames.append(time.monotonic()),
            wants_camera=lambda camera: camera == "scene" and self.watched.is_set(),
        )

    def joint_rate(self, seconds: float) -> float:
        """joint_states per sim second over the last ``seconds`` of wall time."""
        now = time.monotonic()
        stamps = [t for wall, t in self.joints if now - wall <= seconds]
        return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0


@pytest.fixture(scope="module")
def world() -> Iterator[SimWorld]:
    sim = SimWorld("ball_in_bowl", 0, width=64, height=48)
    yield sim
    sim.close()


@pytest.fixture
def runner(world: SimWorld) -> Iterator[tuple[PhysicsRunner, Recorder]]:
    recorder = Recorder()
    config = RunnerConfig(clock_rate=10.0, joint_state_rate=100.0, joint_state_idle_rate=10.0)
    runner = PhysicsRunner(world, config, recorder.outputs())
    runner.start()
    yield runner, recorder
    recorder.watched.clear()
    runner.stop()


def test_idle_then_moving_then_idle_again(runner: tuple[PhysicsRunner, Recorder]) -> None:
    physics, recorder = runner
    time.sleep(1.6)  # the start-up settles; idle_after (1 s) passes
    recorder.clock.clear()
    time.sleep(1.0)
    assert 8 <= len(recorder.clock) <= 12  # 10 Hz of sim time at real time
    assert np.allclose(np.diff(recorder.clock), 0.1, atol=0.011)
    assert 8 <= recorder.joint_rate(1.0) <= 12
    goal = (np.array(HOME) + [0.3, 0.2, 0.0, 0.2, 0.0, -0.2, 0.3]).tolist()
    world = physics.world
    trajectory = validate_trajectory(world.limits, world.arm.joints, [1.0], [goal])
    job = physics.call(lambda: physics.start_trajectory(trajectory, 0.02))
    time.sleep(0.5)
    assert recorder.joint_rate(0.4) > 90  # full rate while it moves
    assert job.done.wait(5.0) and job.message == "trajectory complete"
    time.sleep(0.5)
    assert recorder.joint_rate(0.4) > 90  # and for idle_after (1 s) after
    time.sleep(1.5)
    assert 8 <= recorder.joint_rate(0.6) <= 12


def test_an_idle_wait_ends_for_a_command(runner: tuple[PhysicsRunner, Recorder]) -> None:
    physics, _ = runner
    latencies = []
    for _ in range(10):
        time.sleep(1.2)  # idle again (idle_after)
        started = time.monotonic()
        sim_time = physics.call(lambda: physics.world.time)
        latencies.append(time.monotonic() - started)
        assert sim_time > 0
    # Woken: 1-5 ms (a 10 ms tick's loop took 5-9 ms); waiting out the 50 ms idle period: 25-30 ms.
    assert statistics.median(latencies) < 0.015, latencies


def test_a_watched_camera_gets_its_first_frame_at_once(runner: tuple[PhysicsRunner, Recorder]) -> None:
    _, recorder = runner
    recorder.watched.set()
    assert wait_for(lambda: recorder.frames, 10.0)  # the first render loads the scene into GL
    recorder.watched.clear()
    time.sleep(1.5)  # idle again
    recorder.frames.clear()
    started = time.monotonic()
    recorder.watched.set()
    assert wait_for(lambda: recorder.frames, 5.0)
    assert recorder.frames[0] - started < 0.15  # the next idle tick (50 ms) and a render
    assert recorder.joint_rate(0.1) > 50  # a watched camera means full-rate joint states
