"""The Go2-W sim node's ROS-free parts: cmd_vel clamping, the sim-time watchdog, and MobileWorld (the
members the Franka's physics runner and action servers use, the watchdog stopping the base, trajectories,
the gripper, ground-truth base state)."""

from __future__ import annotations

import numpy as np
import pytest

from maestro_tools.common.errors import InvalidArgumentError, OutOfLimitsError
from maestro_tools.robots import get_robot
from maestro_tools.sim.control import validate_trajectory
from maestro_tools.sim.mobile.command import VelocityWatchdog, clamp_twist
from maestro_tools.sim.mobile.world import MobileWorld
from maestro_tools.sim.runner import Outputs, PhysicsRunner, RunnerConfig

BASE = get_robot("go2w_piper").base


def test_a_twist_is_clamped_to_the_base_limits_and_lateral_parts_are_reported() -> None:
    inside = clamp_twist(BASE, (0.3, 0.0, 0.0), (0.0, 0.0, -0.5))
    assert (inside.linear, inside.angular, inside.notes) == (0.3, -0.5, ())
    fast = clamp_twist(BASE, (-5.0, 0.2, 0.0), (0.0, 0.0, 9.0))
    assert (fast.linear, fast.angular) == (-BASE.max_linear, BASE.max_angular)
    notes = " ".join(fast.notes)
    assert "linear.y ignored" in notes and "clamped to -1.000" in notes and "limit 1.5 rad/s" in notes
    with pytest.raises(InvalidArgumentError, match="finite"):
        clamp_twist(BASE, (float("nan"), 0.0, 0.0), (0.0, 0.0, 0.0))


def test_the_watchdog_fires_once_after_the_timeout_and_ignores_stops() -> None:
    watchdog = VelocityWatchdog(0.5)
    assert not watchdog.expired(10.0)  # nothing commanded yet
    watchdog.command(1.0, moving=True)
    assert not watchdog.expired(1.5)
    assert watchdog.expired(1.51) and not watchdog.expired(2.0)  # once
    watchdog.command(3.0, moving=False)  # a stop needs no watching
    assert not watchdog.expired(9.0)
    watchdog.rearm()  # the stop was not acknowledged: fires again at the next check, then once
    assert watchdog.expired(9.05) and not watchdog.expired(9.1)
    with pytest.raises(InvalidArgumentError, match="> 0"):
        VelocityWatchdog(0.0)


@pytest.fixture(scope="module")
def world() -> MobileWorld:
    return MobileWorld(width=64, height=48, cmd_vel_timeout=0.5)


def test_joint_state_covers_legs_wheels_arm_and_fingers(world: MobileWorld) -> None:
    names, position, velocity, effort = world.joint_state()
    assert len(names) == 24 == len(position) == len(velocity) == len(effort)
    assert names[12:16] == ["FL_wheel_joint", "RL_wheel_joint", "FR_wheel_joint", "RR_wheel_joint"]
    assert names[-2:] == ["piper_joint7", "piper_joint8"]
    assert world.gripper_width() == pytest.approx(world.gripper.max_width, abs=0.003)  # open
    state = world.base_state()
    assert 0.4 < state.position[2] < 0.47 and not world.base_moving()


def test_the_watchdog_stops_a_base_that_hears_no_more_commands(world: MobileWorld) -> None:
    stops: list[float] = []
    world.on_watchdog = lambda: stops.append(world.time)
    start, commanded = world.base_state().position.copy(), world.time
    world.command_velocity(0.3, 0.0)
    assert world.base_moving()
    world.step_for(2.0)
    assert stops and stops[0] == pytest.approx(commanded + 0.5, abs=0.02)
    assert np.linalg.norm(world.base_state().linear) < 0.02 and not world.base_moving()
    travelled = world.base_state().position[0] - start[0]
    assert 0.05 < travelled < 0.25, travelled  # 0.5 s at up to 0.3 m/s, ramps included


def test_a_trajectory_and_the_gripper_run_through_the_physics_runner(world: MobileWorld) -> None:
    runner = PhysicsRunner(world, RunnerConfig(real_time_factor=0.0), Outputs())
    trajectory = validate_trajectory(world.limits, ["piper_joint1", "piper_joint3"], [1.0], [[0.4, -0.5]])
    job = runner.start_trajectory(trajectory, 0.0)
    world.step_for(1.0)
    for _ in range(100):
        runner._update_jobs(world.time)
        world.step(5)
    assert job.done.is_set() and job.code == 0, job.message
    np.testing.assert_allclose(world.arm_positions()[[0, 2]], [0.4, -0.5], atol=0.02)
    world.set_gripper(0.02)
    world.step_for(1.5)
    assert world.gripper_width() == pytest.approx(0.02, abs=0.002)
    with pytest.raises(OutOfLimitsError, match="outside"):
        runner.start_gripper(0.5)


def test_an_unknown_world_names_the_valid_ones() -> None:
    with pytest.raises(InvalidArgumentError, match="valid: house"):
        MobileWorld(world="garden")
