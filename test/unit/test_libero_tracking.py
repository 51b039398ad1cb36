"""The LIBERO node's trajectory tracking without LIBERO: a test fake world whose TCP moves toward the
OSC delta's target at most MAX_SPEED (LIBERO's OSC manages about 0.35 m/s), or not at all (blocked)."""

from __future__ import annotations

import numpy as np

from maestro_tools.sim.libero.runner import (
    BLOCKED_TIME,
    STOP_LAG,
    ArmJob,
    Outputs,
    SimThread,
)
from maestro_tools.sim.libero.world import CONTROL_DT, POS_SCALE

MAX_SPEED = 0.35  # m/s


class FakeSpeedCappedWorld:
    """Joint 0 is the TCP's x (m); the other joints stay 0. Only what the runner's arm loop calls."""

    def __init__(self, blocked_at: float | None = None) -> None:
        self.x, self.blocked_at = 0.0, blocked_at

    def fk_tcp(self, arm: np.ndarray) -> np.ndarray:
        pose = np.eye(4)
        pose[0, 3] = arm[0]
        return pose

    def tcp_pose(self) -> np.ndarray:
        return self.fk_tcp(np.array([self.x, 0, 0, 0, 0, 0, 0]))

    def joints(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.array([self.x, 0, 0, 0, 0, 0, 0.0]), np.zeros(7), np.zeros(2)

    def set_posture(self, arm: np.ndarray) -> None:
        pass

    def step(self, action: np.ndarray) -> None:
        move = float(np.clip(action[0] * POS_SCALE, -MAX_SPEED * CONTROL_DT, MAX_SPEED * CONTROL_DT))
        if self.blocked_at is None or self.x + move < self.blocked_at:
            self.x += move


def run(world: FakeSpeedCappedWorld, distance: float, seconds: float) -> tuple[ArmJob, float, float]:
    """Track a straight ``distance`` m move planned to take ``seconds``; the job, the largest lag (m) and
    the sim time it took."""
    sim = SimThread(lambda: world, Outputs(lambda w: None, lambda w, c: None, lambda c: False, print))
    sim.world = world
    points = np.zeros((2, 7))
    points[1, 0] = distance
    job = sim.start_arm(np.array([0.0, seconds]), points, tolerance=0.003)
    lag, steps = 0.0, 0
    while not job.done.is_set() and steps < 2000:
        world.step(sim._arm_action(world))
        lag, steps = max(lag, job.behind), steps + 1
    return job, lag, steps * CONTROL_DT


def test_a_plan_faster_than_the_tcp_waits_for_it() -> None:
    job, lag, took = run(FakeSpeedCappedWorld(), distance=0.5, seconds=0.5)  # planned at 1 m/s
    assert job.ok, job.message
    assert lag < STOP_LAG  # the clock slowed: the TCP stayed near the planned path
    assert took >= 0.5 / MAX_SPEED  # as long as the TCP needs, not the plan's 0.5 s


def test_a_plan_the_tcp_can_follow_keeps_its_time() -> None:
    job, _, took = run(FakeSpeedCappedWorld(), distance=0.1, seconds=1.0)  # 0.1 m/s
    assert job.ok, job.message
    assert took < 1.0 + 0.5  # the plan's time and a short settle


def test_a_blocked_tcp_ends_the_job_as_blocked() -> None:
    job, _, took = run(FakeSpeedCappedWorld(blocked_at=0.1), distance=0.5, seconds=2.0)
    assert not job.ok and job.blocked
    assert "blocked: the TCP was held" in job.message
    assert took < 2.0 / 0.2 + BLOCKED_TIME + 1.0  # seen while the slowed clock still runs
