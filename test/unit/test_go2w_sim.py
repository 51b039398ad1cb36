"""The Go2-W + PiPER physics: the skid-steer controller's limits and kinematics (no MuJoCo), then the
robot on a flat floor (stands still on locked legs, tracks 0.5 m/s within 5 %, turns in place, brakes,
does not tip over driving into a wall) and in the house (the door is latched until its handle is
pressed; both cameras render). Headless: the renderer picks its GL backend (``common.gl``) with nothing
exported."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.robots import get_robot
from maestro_tools.sim.cameras import Cameras
from maestro_tools.sim.mobile.drive import SkidSteerDrive, body_twist, wheel_speeds
from maestro_tools.sim.mobile.house import DoorLatch, HouseLayout, house_world
from maestro_tools.sim.mobile.robot import WheeledRobotSim

PROFILE = get_robot("go2w_piper")
BASE = PROFILE.base


def test_the_drive_clamps_ramps_and_inverts() -> None:
    drive = SkidSteerDrive(BASE)
    drive.set_command(5.0, -9.0)
    assert tuple(drive.command) == (BASE.max_linear, -BASE.max_angular)
    drive.update(0.0, 0.0, 0.1)  # one 0.1 s step of the ramp
    np.testing.assert_allclose(drive.setpoint, [0.1 * BASE.max_linear_accel, -0.1 * BASE.max_angular_accel])
    left, right = wheel_speeds(BASE, 0.4, 0.7)
    assert right > left and body_twist(BASE, left, right) == pytest.approx((0.4, 0.7))
    with pytest.raises(InvalidArgumentError, match="finite"):
        drive.set_command(float("nan"), 0.0)
    drive.set_command(0.0, 0.0)
    for _ in range(200):
        drive.update(0.0, 0.0, 0.01)
    assert drive.idle


@pytest.fixture(scope="module")
def robot() -> WheeledRobotSim:
    """The robot alone on a floor."""
    spec = PROFILE.build_mjcf()
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.05], conaffinity=3)
    model = spec.compile()
    return WheeledRobotSim(model, mujoco.MjData(model), PROFILE)


def _yaw_travelled(robot: WheeledRobotSim, seconds: float) -> float:
    total, last = 0.0, robot.pose()[2]
    for _ in range(round(seconds / 0.05)):
        robot.step(0.05)
        yaw = robot.pose()[2]
        total += (yaw - last + math.pi) % (2 * math.pi) - math.pi
        last = yaw
    return total


def test_it_stands_still_on_locked_legs(robot: WheeledRobotSim) -> None:
    robot.reset((0.3, -0.2), 0.5)
    robot.step(0.5)
    start, height = robot.pose(), robot.height()
    robot.step(3.0)
    assert 0.40 < height < 0.47, height
    assert abs(robot.height() - height) < 0.005 and robot.tilt() < math.radians(1)
    assert np.hypot(robot.pose()[0] - start[0], robot.pose()[1] - start[1]) < 0.01
    assert abs(robot.pose()[2] - start[2]) < 0.01


def test_half_a_metre_per_second_tracks_within_5_percent(robot: WheeledRobotSim) -> None:
    robot.reset()
    robot.set_cmd_vel(0.5, 0.0)
    robot.step(1.5)  # ramp up and settle
    x0, y0, _ = robot.pose()
    robot.step(2.0)
    x1, y1, yaw = robot.pose()
    assert math.hypot(x1 - x0, y1 - y0) / 2.0 == pytest.approx(0.5, rel=0.05)
    assert abs(y1) < 0.05 and abs(yaw) < 0.05 and robot.tilt() < math.radians(3)
    robot.set_cmd_vel(0.0, 0.0)
    robot.step(1.0)
    speed, yaw_rate = robot.twist()
    assert abs(speed) < 0.02 and abs(yaw_rate) < 0.05  # braked


def test_a_turn_command_turns_in_place(robot: WheeledRobotSim) -> None:
    robot.reset()
    robot.set_cmd_vel(0.0, 0.8)
    robot.step(1.0)
    rate = _yaw_travelled(robot, 2.0) / 2.0
    assert rate == pytest.approx(0.8, rel=0.1)
    assert math.hypot(*robot.pose()[:2]) < 0.15 and robot.tilt() < math.radians(4)
    robot.set_cmd_vel(0.0, -0.8)  # and back the other way
    robot.step(1.0)
    assert _yaw_travelled(robot, 1.0) < -0.6


@pytest.fixture(scope="module")
def walled() -> WheeledRobotSim:
    """The robot on a floor before a wall whose face is at x = 0.7 m."""
    spec = PROFILE.build_mjcf()
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.05], conaffinity=3)
    wall = {"size": [0.05, 3, 1], "pos": [0.75, 0, 1], "conaffinity": 3}
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, **wall)
    model = spec.compile()
    return WheeledRobotSim(model, mujoco.MjData(model), PROFILE)


@pytest.mark.parametrize(
    ("yaw", "command"), [(0.0, (0.5, 0.0)), (-0.8, (0.3, 0.0)), (math.pi, (-0.3, 0.0))], ids=str
)
def test_driving_into_a_wall_does_not_tip_it_over_and_it_backs_away(
    walled: WheeledRobotSim, yaw: float, command: tuple[float, float]
) -> None:
    """On locked legs the wheels' traction against a wall flipped the body (head-on at 0.2 m/s and more);
    the tip guard brakes, then frees the wheels until it is back on them, and the drive goes on. The
    body's shell slides on the wall (it wedged there nose up with the wall's friction)."""
    walled.reset((0.1, 0.0), yaw)
    walled.step(0.5)
    walled.set_cmd_vel(*command)
    worst = 0.0
    for _ in range(500):  # 5 s pushing
        walled.step(0.01)
        worst = max(worst, walled.tilt())
    assert worst < math.radians(25), math.degrees(worst)
    walled.set_cmd_vel(0.0, 0.0)
    walled.step(2.0)
    assert walled.tilt() < math.radians(2) and not walled.tip_guarded, math.degrees(walled.tilt())
    x = walled.pose()[0]
    walled.set_cmd_vel(-command[0], 0.0)  # away from the wall
    walled.step(1.5)
    assert walled.pose()[0] < x - 0.2 and walled.tilt() < math.radians(3)


@pytest.fixture(scope="module")
def house() -> tuple[WheeledRobotSim, HouseLayout]:
    spec, layout = house_world(PROFILE)
    model = spec.compile()
    robot = WheeledRobotSim(model, mujoco.MjData(model), PROFILE)
    robot.reset(*layout.robot_start)
    robot.step(0.5)
    return robot, layout


def test_the_house_holds_the_labelled_objects(house: tuple[WheeledRobotSim, HouseLayout]) -> None:
    robot, layout = house
    model, data = robot.model, robot.data
    expected = {"door", "white table", "garbage can", "sofa", "shelf", "orange plush ball"}
    assert expected <= set(layout.objects)
    for label, body in layout.bodies.items():
        assert mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, body) >= 0, label
    assert set(layout.geom_labels.values()) >= expected
    green = data.xpos[model.body(layout.bodies["green plush ball"]).id]
    assert green[2] > 0.62  # on the table top
    orange = data.xpos[model.body(layout.bodies["orange plush ball"]).id]
    sofa = data.xpos[model.body(layout.bodies["sofa"]).id]
    assert orange[1] < sofa[1] - 0.4  # behind the sofa's back, by the wall
    assert robot.height() > 0.4 and robot.tilt() < math.radians(1)


def test_the_door_opens_only_with_the_handle_pressed(house: tuple[WheeledRobotSim, HouseLayout]) -> None:
    robot, layout = house
    model, data = robot.model, robot.data
    latch, leaf = DoorLatch(model), model.body(layout.bodies["door"]).id
    handle_dof = model.jnt_dofadr[model.joint("door_handle").id]

    def push(seconds: float, press: bool) -> None:
        for _ in range(round(seconds / 0.01)):
            latch.update(data)
            data.qfrc_applied[handle_dof] = 2.0 if press else 0.0  # beats the handle's spring
            data.xfrc_applied[leaf, :3] = [40.0, 0.0, 0.0]  # push into the room (+x)
            robot.step(0.01)
        data.xfrc_applied[leaf] = 0.0
        data.qfrc_applied[handle_dof] = 0.0

    push(0.5, press=False)
    assert abs(latch.door_angle(data)) < 0.03 and latch.update(data)
    push(1.0, press=True)
    assert latch.door_angle(data) > 0.2 and not latch.update(data)


def test_both_cameras_render_rgb_and_depth(house: tuple[WheeledRobotSim, HouseLayout]) -> None:
    robot, _ = house
    cameras = Cameras(robot.model, 320, 240, {c.name: c.mjcf_camera for c in PROFILE.cameras})
    try:
        for camera in PROFILE.camera_names:
            rgb, depth = cameras.rgb(robot.data, camera), cameras.depth(robot.data, camera)
            assert rgb.shape == (240, 320, 3) and rgb.std() > 5, camera  # an image, not a blank
            valid = depth[depth > 0]
            assert valid.size > 0.9 * depth.size and valid.min() > 0.03 and valid.max() < 8.0, camera
        # The head camera looks 15 deg down from 0.47 m: the image's bottom row sees the floor ~0.9 m ahead.
        pose = cameras.pose(robot.data, "head")
        assert pose[2, 3] == pytest.approx(robot.height() + 0.03, abs=0.01)
        bottom = cameras.depth(robot.data, "head")[-1, 160]
        assert 0.5 < bottom < 1.5, bottom
    finally:
        cameras.close()
