"""The Go2-W's body posture (height and pitch from the stand): the legs' IK keeps the wheel axles in place,
the simulation crouches and pitches on a body trajectory and refuses postures out of range, and
whole-body reach plans a floor toy crouched (refused standing), checked by forward kinematics of the
simulation's own model with the body actually crouched."""

from __future__ import annotations

import math
import time

import mujoco
import numpy as np
import pytest

from maestro_tools.common.errors import OutOfLimitsError, UnreachableError
from maestro_tools.common.surfaces import SupportSurface
from maestro_tools.motion.base_geometry import BasePose
from maestro_tools.motion.whole_body import ReachTarget, WholeBodyReach
from maestro_tools.robots import go2w_piper_model as go2w
from maestro_tools.robots.body_posture import BodyPosture, LegPosture
from maestro_tools.robots.go2w_piper import GO2W_PIPER
from maestro_tools.sim.control import validate_trajectory
from maestro_tools.sim.mobile.house import TABLE_CENTER, TABLE_HALF, TABLE_HEIGHT
from maestro_tools.sim.mobile.world import MobileWorld

BASE = GO2W_PIPER.base
assert BASE is not None
LOW, PITCH = BASE.min_height_offset, BASE.max_pitch
TABLE = SupportSurface("white table", (*TABLE_CENTER, TABLE_HEIGHT / 2), (*TABLE_HALF, TABLE_HEIGHT / 2))
START = BasePose(1.9, 0.6, 0.0)
FLOOR_TOY = ReachTarget((2.0, -0.4, 0.04))  # a 4 cm plush ball's centre on the floor, top-down


@pytest.fixture(scope="module")
def world() -> MobileWorld:
    return MobileWorld(width=64, height=48)


def _wheels(world: MobileWorld) -> np.ndarray:
    return np.array([world.data.xpos[b] for b in world.robot.wheel_bodies])


def _crouch(world: MobileWorld, height: float, pitch: float, seconds: float = 1.0) -> float:
    """Run a body trajectory to (height, pitch) until its job ends; the sim seconds it took."""
    body, start = world.body, world.time
    trajectory = body.validate(["body_height", "body_pitch"], [seconds], [[height, pitch]])
    job = body.start(trajectory, {}, world.time)
    while not job.done.is_set() and world.time < start + seconds + 3.0:
        world.step(5)
    assert job.done.is_set() and job.code == 0, job.message
    return world.time - start


def test_leg_ik_keeps_the_axles_where_the_stand_has_them() -> None:
    model = GO2W_PIPER.build_mjcf().compile()
    legs, data = LegPosture(model, GO2W_PIPER), mujoco.MjData(model)
    free = model.jnt_qposadr[model.body(go2w.BASE_BODY).jntadr[0]]
    joints = [model.jnt_qposadr[model.joint(j).id] for j, _ in BASE.posture]

    def axles(posture: BodyPosture) -> np.ndarray:
        data.qpos[free : free + 7] = [
            0,
            0,
            posture.height,
            math.cos(posture.pitch / 2),
            0,
            math.sin(posture.pitch / 2),
            0,
        ]
        data.qpos[joints] = legs.solve(posture)
        mujoco.mj_kinematics(model, data)
        return np.array([data.xpos[model.body(f"{leg}_wheel").id] for leg in go2w.LEGS])

    stand = axles(BodyPosture())
    np.testing.assert_allclose(legs.solve(BodyPosture()), [v for _, v in BASE.posture], atol=1e-9)
    for height in (LOW, LOW / 2):
        for pitch in (-PITCH, 0.0, PITCH):
            np.testing.assert_allclose(axles(BodyPosture(height, pitch)), stand, atol=1e-6)
    with pytest.raises(
        OutOfLimitsError, match=r"body_height = -0\.300 m is out of range; valid: -0\.180 \.\. 0"
    ):
        BodyPosture(-0.3, 0.0).check(BASE)
    with pytest.raises(OutOfLimitsError, match=r"body_pitch = 0\.500 rad is out of range"):
        BodyPosture(0.0, 0.5).check(BASE)


def test_the_sim_crouches_and_pitches_with_the_wheels_in_place(world: MobileWorld) -> None:
    wheels, stand_z = _wheels(world), world.base_state().position[2]
    took = _crouch(world, LOW, 0.2)
    posture = world.robot.body_posture()
    assert posture.height == pytest.approx(LOW, abs=0.01) and posture.pitch == pytest.approx(0.2, abs=0.02)
    assert world.base_state().position[2] == pytest.approx(stand_z + LOW, abs=0.01)
    assert np.linalg.norm(_wheels(world) - wheels, axis=1).max() < 0.005  # the tyres did not roll
    assert world.robot.tilt() == pytest.approx(0.2, abs=0.02) and took < 2.5
    with pytest.raises(OutOfLimitsError, match="body_pitch"):
        world.body.validate(["body_pitch"], [1.0], [[0.6]])
    _crouch(world, 0.0, 0.0)
    assert abs(world.robot.body_posture().height) < 0.01 and world.robot.tilt() < 0.01
    print(f"crouch {LOW} m + 0.2 rad in {took:.2f} s of sim time; wheels within 5 mm")


def test_a_floor_toy_is_reachable_crouched_and_refused_standing(world: MobileWorld) -> None:
    reach = WholeBodyReach(GO2W_PIPER, [TABLE])
    with pytest.raises(UnreachableError, match="off at best"):
        reach.plan_base_pose(FLOOR_TOY, START, posture=BodyPosture())
    started = time.perf_counter()
    plan = reach.plan_base_pose(FLOOR_TOY, START)  # the stand fails, the crouch reaches
    planned = time.perf_counter() - started
    assert plan.posture.height < 0 and plan.arm.position_error < 0.002
    # The sim's robot at the planned base, crouched physically; the arm re-solved from what it measures.
    world.robot.reset((plan.base.x, plan.base.y), plan.base.yaw)
    world.step_for(0.3)
    world.robot.set_body_posture(plan.posture)
    world.step_for(1.5)
    base, measured = BasePose.from_matrix(world.base_pose()), world.robot.body_posture()
    assert measured.height == pytest.approx(plan.posture.height, abs=0.01)
    arm = reach.solve_arm(FLOOR_TOY, base, seed=plan.arm.q, posture=measured)
    model, data = world.model, mujoco.MjData(world.model)
    data.qpos[:] = world.data.qpos
    data.qpos[world.arm_qpos] = arm.q
    mujoco.mj_kinematics(model, data)
    site = model.site(GO2W_PIPER.arm.tcp_site).id
    position = float(np.linalg.norm(data.site_xpos[site] - FLOOR_TOY.position))
    axis = data.site_xmat[site].reshape(3, 3)[:, 2]
    angle = math.degrees(math.acos(np.clip(axis @ FLOOR_TOY.approach, -1.0, 1.0)))
    assert position < 0.005 and angle < 5.0, (position, angle)
    # ... and the arm driven there: the TCP reaches the toy's centre (the servos' error aside).
    world.start_trajectory(validate_trajectory(world.limits, list(world.limits.names), [2.0], [list(arm.q)]))
    world.step_for(3.0)
    reached = float(np.linalg.norm(world.data.site_xpos[site] - FLOOR_TOY.position))
    assert reached < 0.01, reached
    print(
        f"floor toy: plan {planned * 1000:.0f} ms at {plan.posture}; re-solve {arm.seconds * 1000:.0f} ms, "
        f"FK {position * 1000:.2f} mm {angle:.2f} deg; driven {reached * 1000:.1f} mm"
    )


def test_a_body_goal_takes_a_tolerance_per_joint_the_defaults_elsewhere(world: MobileWorld) -> None:
    from maestro_tools.sim.mobile.body import TOLERANCE

    body = world.body
    trajectory = body.validate(["body_height", "body_pitch"], [1.0], [[-0.1, 0.0]])
    for given, expected in (
        ({}, TOLERANCE),
        ({"body_pitch": 0.06}, [TOLERANCE[0], 0.06]),
        ({"": 0.05}, [0.05, 0.05]),
        ({"": 0.05, "body_height": 0.02}, [0.02, 0.05]),
    ):
        body.start(trajectory, given, world.time)
        assert np.allclose(body._tolerance, expected), given
    body.finish_running(0, "test over")
