"""The simulated gripper without ROS: force-limited fingers judged by width, as a real gripper reports.

The fingers move at the gripper's speed and squeeze what stops them with the commanded force (capped at
the profile's max_force); a grasp is judged by where they stopped (maestro_tools/robots/gripper.py).
Object positions from the simulator check the outcome here; they never enter the judgement.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.motion.kinematics import ArmKinematics
from maestro_tools.robots.gripper import dropped, holding, judge_grasp
from maestro_tools.sim.control import BLOCKED_LAG, SQUEEZE_RISE, FingerMotion, validate_trajectory
from maestro_tools.sim.world import SimWorld
from test.sim.franka_cell import GRIPPER, HOME, franka_model


@pytest.fixture(scope="module")
def world() -> Iterator[SimWorld]:
    sim = SimWorld("rotate_cube", 0, width=64, height=48)
    yield sim
    sim.close()


@pytest.fixture(scope="module")
def kinematics() -> ArmKinematics:
    return ArmKinematics(franka_model())


def down(x: float, y: float, z: float, yaw: float = 0.0) -> np.ndarray:
    """TCP pose pointing down, the fingers closing along the base frame's y axis turned by ``yaw``."""
    c, s = np.cos(yaw), np.sin(yaw)
    pose = np.eye(4)
    pose[:3, :3] = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.diag([1.0, -1.0, -1.0])
    pose[:3, 3] = [x, y, z]
    return pose


def move(world: SimWorld, q: np.ndarray, duration: float) -> None:
    world.start_trajectory(validate_trajectory(world.limits, world.arm.joints, [duration], [q.tolist()]))
    world.step_for(duration + 0.3)


def close(world: SimWorld, force: float | None = None, seconds: float = 1.0) -> float:
    world.set_gripper(0.0, force)
    world.step_for(seconds)
    return world.gripper_width()


def grasp_at(world: SimWorld, kinematics: ArmKinematics, xyz: np.ndarray, yaw: float, force: float | None):
    """Open above ``xyz``, descend to it, close with ``force``; the arm configuration at the grasp."""
    above = kinematics.solve(down(xyz[0], xyz[1], xyz[2] + 0.12, yaw), np.array(HOME)).q
    world.set_arm(above)
    world.set_gripper(GRIPPER.max_width)
    world.step_for(0.8)
    at = kinematics.solve(down(*xyz, yaw), above).q
    move(world, at, 1.0)
    close(world, force)
    return at


def shift(world: SimWorld, kinematics: ArmKinematics, q: np.ndarray, offset, seconds: float) -> np.ndarray:
    """Move the TCP by ``offset`` (m, base frame) in ``seconds``; the arm configuration at the end."""
    target = kinematics.fk(q)
    target[:3, 3] += offset
    end = kinematics.solve(target, q).q
    move(world, end, seconds)
    return end


def cube_grasp(world: SimWorld, kinematics: ArmKinematics, force: float | None = None) -> np.ndarray:
    world.reset("rotate_cube", 0)
    rotation = world.rotation("cube")
    return grasp_at(
        world, kinematics, world.position("cube"), np.arctan2(rotation[1, 0], rotation[0, 0]), force
    )


def test_the_fingers_ramp_at_their_speed_then_squeeze_with_the_force() -> None:
    motion = FingerMotion(target=0.0, start=0.08, start_time=1.0, speed=0.1, full_offset=0.04)
    assert motion.setpoint(1.2, 0.06) == pytest.approx(0.06)  # 0.1 m/s of opening
    assert motion.blocked_since is None
    # The fingers stop on a 5 cm object: once they trail the ramp by BLOCKED_LAG, the squeeze builds up
    # over SQUEEZE_RISE to the full offset past the current opening, whatever the object's width.
    blocked_at = 1.0 + (0.08 - 0.05 + BLOCKED_LAG) / 0.1
    motion.setpoint(blocked_at + 0.001, 0.05)
    assert motion.blocked_since == pytest.approx(blocked_at + 0.001)
    assert motion.setpoint(blocked_at + SQUEEZE_RISE + 0.01, 0.05) == pytest.approx(0.05 - 0.04)
    assert motion.setpoint(blocked_at + 1.0, 0.006) == pytest.approx(0.006 - 0.04)  # a thin wall alike
    assert motion.setpoint(blocked_at + 1.0, 0.002) == 0.0  # slipped out: on to the target, no further
    opening = FingerMotion(target=0.08, start=0.0, start_time=0.0, speed=0.1, full_offset=0.04)
    assert opening.setpoint(0.5, 0.05) == pytest.approx(0.05)


def test_a_cube_grasp_stops_at_its_width_holds_it_and_lifts_it(world: SimWorld, kinematics) -> None:
    at = cube_grasp(world, kinematics)
    size = 2 * world.model.geom("cube/0").size[0]
    width = world.gripper_width()
    assert width == pytest.approx(size, abs=0.0015)  # the pads barely sink in at 70 N
    assert world.gripper_effort() == pytest.approx(GRIPPER.grasp_force, rel=0.02)
    judgement = judge_grasp(width, GRIPPER, expected_width=size)
    assert judgement.held and holding(width, GRIPPER, commanded=0.0), judgement.message
    start = world.position("cube")[2]
    shift(world, kinematics, at, [0.0, 0.0, 0.15], 0.4)  # 15 cm in 0.4 s
    assert world.position("cube")[2] - start > 0.145
    assert not dropped(world.gripper_width(), GRIPPER)


def test_closing_on_nothing_is_judged_empty(world: SimWorld, kinematics) -> None:
    world.reset("rotate_cube", 0)
    world.set_arm(kinematics.solve(down(0.4, -0.2, 0.3), np.array(HOME)).q)
    width = close(world)
    judgement = judge_grasp(width, GRIPPER)
    assert width <= GRIPPER.empty_width and not judgement.held
    assert "closed on nothing" in judgement.message
    assert not holding(width, GRIPPER, commanded=0.0)


def test_the_force_is_the_commanded_one_up_to_the_max_force(world: SimWorld, kinematics) -> None:
    cube_grasp(world, kinematics, force=20.0)
    assert world.gripper_effort() == pytest.approx(20.0, rel=0.02)
    cube_grasp(world, kinematics, force=1000.0)
    assert world.gripper_effort() == pytest.approx(GRIPPER.max_force, rel=0.02)
    cube_grasp(world, kinematics, force=0.0)  # no force named: the sim's grasp_force
    assert world.gripper_effort() == pytest.approx(world.grasp_force, rel=0.02)
    with pytest.raises(InvalidArgumentError, match="grasp_force must be in"):
        SimWorld("rotate_cube", 0, width=64, height=48, grasp_force=GRIPPER.max_force + 1)


def test_a_mug_held_by_its_wall_stays_in_the_hand_through_fast_moves(world: SimWorld, kinematics) -> None:
    world.reset("hang_mug", 0)
    centre, rotation = world.position("mug cup"), world.rotation("mug cup")
    away = np.arctan2(rotation[1, 0], rotation[0, 0]) + np.pi  # the wall opposite the handle
    distances = [np.linalg.norm(world.data.geom_xpos[g][:2] - centre[:2]) for g in world.geoms_of("mug cup")]
    radius = float(np.median(distances))  # most of its geoms are the wall's 16 segments
    wall = centre + radius * np.array([np.cos(away), np.sin(away), 0.0])
    wall[2] = 0.075  # the fingertips 2 cm below the rim
    start = centre[2]
    at = grasp_at(world, kinematics, wall, away + np.pi / 2, None)
    width = world.gripper_width()
    assert GRIPPER.empty_width < width < 0.012 and judge_grasp(width, GRIPPER).held
    up = shift(world, kinematics, at, [0.0, 0.0, 0.15], 0.4)
    shift(world, kinematics, up, [-0.1, -0.2, 0.0], 0.5)  # and 22 cm sideways in 0.5 s
    assert world.position("mug cup")[2] - start > 0.14
    assert holding(world.gripper_width(), GRIPPER, commanded=0.0)


def test_an_object_knocked_out_of_the_hand_lets_the_fingers_close(world: SimWorld, kinematics) -> None:
    at = cube_grasp(world, kinematics)
    shift(world, kinematics, at, [0.0, 0.0, 0.1], 0.5)
    assert not dropped(world.gripper_width(), GRIPPER)
    world.set_object_pose("cube", np.array([0.3, -0.3, 0.03]))  # a perturbation takes it away
    world.step_for(0.3)
    assert dropped(world.gripper_width(), GRIPPER)


def test_the_arm_holds_its_posture_without_sagging(world: SimWorld, kinematics) -> None:
    world.reset("rotate_cube", 0)
    for target in (down(0.4, 0.0, 0.3), down(0.6, -0.2, 0.1), down(0.3, 0.3, 0.4)):
        q = kinematics.solve(target, np.array(HOME)).q
        world.set_arm(q)
        world.step_for(1.0)
        assert np.linalg.norm(world.tcp_pose()[:3, 3] - target[:3, 3]) < 0.001
