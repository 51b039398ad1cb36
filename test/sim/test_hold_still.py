"""A holding arm reports ~0 joint velocity: after resets, trajectories, cancels and kicks.

The arm's servos once chattered while holding: MuJoCo's implicit step leaves out the damping of an
actuator at its force limit, so a joint whose kd * dt exceeded 2 * inertia flipped its velocity every
step (joint 7: +-0.11 rad/s, < 1 mrad of motion). These tests hold the velocities to |v| < 0.01 rad/s.
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from maestro_tools.sim.control import validate_trajectory
from maestro_tools.sim.world import SimWorld

STILL = 0.01  # rad/s (m/s for the fingers): what a holding joint may report


@pytest.fixture(scope="module")
def world() -> SimWorld:
    sim = SimWorld("ball_in_bowl", 0, width=64, height=48)
    yield sim
    sim.close()


def max_speed(world: SimWorld, seconds: float) -> float:
    """The largest |velocity| any reported joint (arm and fingers) shows while stepping ``seconds``."""
    fastest = 0.0
    for _ in range(round(seconds / world.model.opt.timestep)):
        world.step()
        fastest = max(fastest, float(np.abs(world.joint_state()[2]).max()))
    return fastest


def move(world: SimWorld, goal: np.ndarray, duration: float) -> None:
    world.start_trajectory(validate_trajectory(world.limits, world.arm.joints, [duration], [goal.tolist()]))


def test_still_after_resets(world: SimWorld) -> None:
    for task, seed in (("ball_in_bowl", 0), ("clean_table", 3), ("ball_in_bowl", 7)):
        world.reset(task, seed)
        world.step_for(0.2)
        assert max_speed(world, 0.3) < STILL, f"the arm moves after resetting {task} (seed {seed})"


def test_still_after_trajectories_and_tracking_unslowed(world: SimWorld) -> None:
    world.reset("ball_in_bowl", 0)
    home = np.array(world.arm.home)
    rng = np.random.default_rng(3)
    for _ in range(6):
        goal = np.clip(home + rng.uniform(-0.6, 0.6, 7), world.limits.lower + 0.05, world.limits.upper - 0.05)
        duration = max(0.3, float(np.abs(goal - world.arm_positions()).max()) / 0.8)
        move(world, goal, duration)
        world.step_for(duration)
        end = world.time
        while np.abs(world.arm_positions() - goal).max() > 0.02 and world.time - end < 1.0:
            world.step()
        assert world.time - end < 0.2, "the arm took too long to reach its goal after the trajectory"
        world.step_for(0.5)
        assert max_speed(world, 0.3) < STILL


# Joint-7 motions whose cancel left the old servos chattering (4 of 16 in a sweep), and two that did not.
@pytest.mark.parametrize("joint7", [-1.5, -1.1, -0.9, 0.9, 1.1, 1.5])
def test_cancel_mid_trajectory_stops_within_half_a_second(world: SimWorld, joint7: float) -> None:
    home = np.array(world.arm.home)
    world.set_arm(home)
    move(world, home + [0.3, 0.2, 0.0, 0.3, 0.0, -0.2, joint7], 3.0)
    world.step_for(1.0)
    world.hold()  # what a cancelled FollowJointTrajectory goal does
    start, still_since = world.time, None
    while world.time - start < 1.0:
        world.step()
        moving = np.abs(world.joint_state()[2]).max() >= STILL
        still_since = None if moving else (still_since or world.time)
    assert still_since is not None and still_since - start < 0.5


@pytest.mark.parametrize("kick", [0.08, 0.1, 0.14, 0.32, 0.56])
def test_a_kicked_wrist_settles(world: SimWorld, kick: float) -> None:
    """Each of these joint-7 speeds locked the old servos into the +-0.11 rad/s chatter."""
    world.set_arm(np.array(world.arm.home))
    world.data.qvel[world.arm_dof[6]] = kick
    world.step_for(0.5)
    assert max_speed(world, 0.1) < STILL


@pytest.mark.parametrize("timestep", [0.002, 0.005])
def test_servo_damping_stays_inside_the_implicit_step_bound(timestep: float) -> None:
    """kd * dt < 2 * I on every arm joint, I its smallest inertia over sampled poses (the chatter's bound)."""
    world = SimWorld("ball_in_bowl", 0, width=64, height=48, timestep=timestep)
    model, data = world.model, world.data
    damping = -model.actuator_biasprm[: world.arm_count, 2]
    inertia, full = np.full(world.arm_count, np.inf), np.zeros((model.nv, model.nv))
    rng = np.random.default_rng(0)
    for _ in range(400):
        data.qpos[world.arm_qpos] = rng.uniform(world.limits.lower, world.limits.upper)
        mujoco.mj_forward(model, data)
        mujoco.mj_fullM(model, data, full)
        inertia = np.minimum(inertia, np.diag(full)[world.arm_dof])
    ratio = damping * timestep / inertia
    world.close()
    assert np.all(ratio < 2), dict(zip(world.arm.joints, ratio.round(2), strict=True))
