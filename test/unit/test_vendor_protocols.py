"""The vendor protocols without ROS: the PiPER frames the simulated firmware reads and writes against
piper_sdk's own encoder and parser, the socketcand server against python-can's client, the Unitree
sport state as odometry, and the driver's unit conversions and trajectory sampling."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.drivers import piper_units as units
from maestro_tools.drivers.sport_state import odometry_from_sport_state
from maestro_tools.sim.mobile.vendor import piper_frames as frames
from maestro_tools.sim.mobile.vendor.socketcand import SocketcandServer, decode_send, encode_frame
from test.polling import wait_for

can = pytest.importorskip("can")
piper_sdk = pytest.importorskip("piper_sdk")
_channels = itertools.count()


@pytest.fixture
def sdk_frames():
    """piper_sdk's interface on an in-process python-can bus, and what it puts on the wire."""
    channel = f"vendor_test_{next(_channels)}"
    piper = piper_sdk.C_PiperInterface_V2(channel, judge_flag=False, can_auto_init=False)
    piper.CreateCanBus(channel, bustype="virtual", judge_flag=False)
    wire = can.Bus(interface="virtual", channel=channel)

    def sent() -> dict[int, bytes]:
        out = {}
        while (frame := wire.recv(0.2)) is not None:
            out[frame.arbitration_id] = bytes(frame.data)
        return out

    yield piper, sent
    wire.shutdown()


def test_the_firmware_decodes_the_sdk_commands(sdk_frames) -> None:
    piper, sent = sdk_frames
    goal = [0.5, 1.2, -0.8, 0.1, -0.3, 1.0]  # rad
    piper.EnableArm(7)
    piper.MotionCtrl_2(0x01, 0x01, 60, 0x00)
    piper.JointCtrl(*[units.rad_to_millidegrees(q) for q in goal])
    piper.GripperCtrl(units.width_to_micrometres(0.035), 1500, 0x01, 0)
    out = sent()
    assert out[frames.MOTOR_ENABLE][:2] == bytes([frames.ALL_MOTORS, frames.ENABLE])
    assert out[frames.MOTION_CTRL_2][:3] == bytes([frames.CAN_CONTROL, frames.MOVE_J, 60])
    decoded = [q for can_id in frames.JOINT_CTRL for q in frames.decode_joint_pair(out[can_id])]
    np.testing.assert_allclose(decoded, goal, atol=2e-5)  # 0.001 deg resolution
    gripper = frames.decode_gripper(out[frames.GRIPPER_CTRL])
    assert gripper.width == pytest.approx(0.035) and gripper.effort == 1500 and gripper.enable


def test_the_sdk_parses_the_firmware_feedback() -> None:
    from piper_sdk.piper_msgs.msg_v2 import PiperMessage
    from piper_sdk.protocol.protocol_v2 import C_PiperParserV2

    parser = C_PiperParserV2()

    def parse(can_id: int, data: bytes) -> PiperMessage:
        message = PiperMessage()
        assert parser.DecodeMessage(
            can.Message(arbitration_id=can_id, data=data, is_extended_id=False), message
        )
        return message

    positions = [0.3, 0.6, -0.5, 0.0, 0.3, -2.0]
    got = []
    for can_id, data in frames.joint_feedback(positions):
        feedback = parse(can_id, data).arm_joint_feedback
        got += {0x2A5: [feedback.joint_1, feedback.joint_2], 0x2A6: [feedback.joint_3, feedback.joint_4]}.get(
            can_id, [feedback.joint_5, feedback.joint_6]
        )
    np.testing.assert_allclose([units.millidegrees_to_rad(v) for v in got], positions, atol=2e-5)
    gripper = parse(*frames.gripper_feedback(0.0123, -250, True)).gripper_feedback
    assert gripper.grippers_angle == 12300 and gripper.grippers_effort == -250
    assert gripper.status_code & frames.ENABLED_BIT
    enabled = [True, True, False, True, True, True]
    for (can_id, data), on in zip(frames.low_speed_feedback(enabled), enabled, strict=True):
        message = parse(can_id, data)
        low = getattr(message, f"arm_low_spd_feedback_{can_id - 0x260}")
        assert bool(low.foc_status_code & frames.ENABLED_BIT) == on and low.vol == 240
    status = parse(*frames.arm_status(0x01, 0x01, moving=True, stopped=False)).arm_status_msgs
    assert (status.ctrl_mode, status.mode_feed, status.motion_status) == (0x01, 0x01, 1)


def test_socketcand_frames_match_python_can() -> None:
    from can.interfaces.socketcand import socketcand as client

    message = client.convert_ascii_message_to_can_message(encode_frame(0x2A5, b"\x01\x02\xff", 12.5).decode())
    assert message.arbitration_id == 0x2A5 and bytes(message.data) == b"\x01\x02\xff"
    assert not message.is_extended_id
    sent = can.Message(arbitration_id=0x155, data=bytes(range(8)), is_extended_id=False)
    assert decode_send(client.convert_can_message_to_ascii_message(sent)) == (0x155, bytes(range(8)))
    assert decode_send("< send 155 2 1 >") is None  # a length that does not match its bytes


def test_the_socketcand_server_is_a_bus_across_clients() -> None:
    received: list[tuple[int, bytes]] = []
    server = SocketcandServer(0, "can0", lambda i, d: received.append((i, d)))
    options = {"interface": "socketcand", "channel": "can0", "host": "127.0.0.1", "port": server.port}
    first, second = can.Bus(**options), can.Bus(**options)
    try:
        time.sleep(0.1)  # both clients enrolled
        first.send(can.Message(arbitration_id=0x151, data=b"\x01\x01\x64", is_extended_id=False))
        assert wait_for(lambda: received == [(0x151, b"\x01\x01\x64")], 5)
        seen = second.recv(2.0)  # another client sees it, as on a CAN wire
        assert seen is not None and seen.arbitration_id == 0x151
        server.send(0x2A8, b"\x00\x00\x30\x0c\x00\x00\x40\x00")
        device = first.recv(2.0)
        assert device is not None and device.arbitration_id == 0x2A8 and device.data[3] == 0x0C
        with pytest.raises(can.CanError):
            can.Bus(**{**options, "channel": "vcan7"})  # the server names the channel it offers
    finally:
        first.shutdown()
        second.shutdown()
        server.close()


def test_sport_state_becomes_odometry_with_the_twist_in_the_base_frame() -> None:
    idl = pytest.importorskip("unitree_sdk2py.idl.default")
    from unitree_sdk2py.idl.unitree_go.msg.dds_ import SportModeState_

    from maestro_tools.sim.mobile.vendor.unitree_sport import rotation_of, rpy_of

    state = idl.unitree_go_msg_dds__SportModeState_()
    yaw = math.pi / 2  # facing +y, driving forward at 0.5 m/s and turning at 0.2 rad/s
    quaternion = np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])
    state.position = [1.0, 2.0, 0.35]
    state.velocity = [float(v) for v in rotation_of(quaternion) @ np.array([0.5, 0.0, 0.0])]
    state.yaw_speed = 0.2
    state.imu_state.quaternion = quaternion.tolist()
    assert rpy_of(quaternion)[2] == pytest.approx(yaw)
    wire = SportModeState_.deserialize(state.serialize())  # the DDS encoding, both ways
    odometry = odometry_from_sport_state(wire)
    assert odometry.position == pytest.approx((1.0, 2.0, 0.35))
    assert odometry.linear == pytest.approx((0.5, 0.0, 0.0), abs=1e-6)
    assert odometry.angular[2] == pytest.approx(0.2)
    assert odometry.quaternion == pytest.approx(tuple(quaternion), abs=1e-6)
    state.imu_state.quaternion = [0.0, 0.0, 0.0, 0.0]  # no IMU yet: identity, not NaN
    assert odometry_from_sport_state(state).quaternion == (1.0, 0.0, 0.0, 0.0)


def test_the_sport_server_works_around_the_sdk_binary_handler_bug() -> None:
    pytest.importorskip("unitree_sdk2py")
    from unitree_sdk2py.rpc.server import Server

    from maestro_tools.sim.mobile.vendor.unitree_sport import _SportServer

    with pytest.raises(AttributeError):  # unitree_sdk2py 1.0.3: .add() on a dict
        Server("probe")._RegistBinaryHandler(1, lambda data: (0, []), False)
    _SportServer({})._RegistBinaryHandler(1, lambda data: (0, []), False)


def test_units_and_trajectory_sampling() -> None:
    assert units.rad_to_millidegrees(math.pi / 2) == 90_000
    assert units.millidegrees_to_rad(-45_000) == pytest.approx(-math.pi / 4)
    assert units.micrometres_to_width(units.width_to_micrometres(0.0421)) == pytest.approx(0.0421)
    assert units.force_to_effort(20.0, 40.0) == 2500 and units.force_to_effort(99.0, 40.0) == 5000
    joints = [f"j{i}" for i in range(1, 7)]
    start = [0.0, 0.5, -0.5, 0.0, 0.0, 0.0]
    plan = units.SampledTrajectory(joints, start, ["j1", "j2"], [1.0, 2.0], [[0.2, 1.0], [0.4, 1.5]])
    np.testing.assert_allclose(plan.sample(0.5), [0.1, 0.75, -0.5, 0, 0, 0])
    np.testing.assert_allclose(plan.sample(5.0), [0.4, 1.5, -0.5, 0, 0, 0])
    assert plan.duration == 2.0 and plan.columns == [0, 1]
    with pytest.raises(InvalidArgumentError, match="arm joints: j1"):
        units.SampledTrajectory(joints, start, ["elbow"], [1.0], [[0.0]])
    with pytest.raises(InvalidArgumentError, match=r"j3 = 0.5000 rad is outside"):
        units.SampledTrajectory(joints, start, ["j3"], [1.0], [[0.5]])
    with pytest.raises(InvalidArgumentError, match="time_from_start"):
        units.SampledTrajectory(joints, start, ["j1"], [1.0, 1.0], [[0.0], [0.1]])
    with pytest.raises(InvalidArgumentError, match="unknown"):
        units.configure_can("pcan-ish", "127.0.0.1", 1)


class _FakeWorld:
    """What the firmware uses of MobileWorld, recording the commands."""

    def __init__(self) -> None:
        from types import SimpleNamespace

        self.limits = SimpleNamespace(lower=np.full(6, -1.0), upper=np.full(6, 1.0))
        self.gripper = SimpleNamespace(max_width=0.07, max_force=40.0)
        self.trajectories: list = []
        self.grips: list[tuple[float, float | None]] = []
        self.held = 0

    def arm_positions(self) -> np.ndarray:
        return np.zeros(6)

    def start_trajectory(self, trajectory) -> None:
        self.trajectories.append(trajectory)

    def set_gripper(self, width: float, force: float | None = None) -> None:
        self.grips.append((width, force))

    def hold(self) -> None:
        self.held += 1


class _InlineRunner:
    def submit(self, function):
        return function()


def test_the_firmware_moves_only_when_enabled_in_can_control() -> None:
    from maestro_tools.sim.mobile.vendor.piper_can import SimPiperFirmware

    world = _FakeWorld()
    firmware = SimPiperFirmware(world, _InlineRunner(), 0)  # type: ignore[arg-type]
    try:

        def joints(values: list[float]) -> None:
            for k, can_id in enumerate(frames.JOINT_CTRL):
                pair = [units.rad_to_millidegrees(v) for v in values[2 * k : 2 * k + 2]]
                firmware.on_frame(can_id, b"".join(v.to_bytes(4, "big", signed=True) for v in pair))

        joints([0.5] * 6)
        assert world.trajectories == []  # not enabled: ignored, like the arm
        firmware.on_frame(frames.MOTOR_ENABLE, bytes([frames.ALL_MOTORS, frames.ENABLE, 0, 0, 0, 0, 0, 0]))
        joints([0.5] * 6)
        assert world.trajectories == []  # enabled but not in CAN control, MOVE J
        firmware.on_frame(frames.MOTION_CTRL_2, bytes([0x01, 0x01, 50, 0, 0, 0, 0, 0]))
        joints([0.5, 2.0, 0.0, 0.0, 0.0, -0.5])
        (trajectory,) = world.trajectories
        np.testing.assert_allclose(trajectory.positions[0], [0.5, 1.0, 0, 0, 0, -0.5], atol=1e-4)  # clipped
        assert trajectory.duration == pytest.approx(1.0 / (3.0 * 0.5), rel=1e-3)  # 1 rad at 50 % of 3 rad/s
        firmware.on_frame(frames.MOTION_CTRL_1, bytes([frames.EMERGENCY_STOP, 0, 0, 0, 0, 0, 0, 0]))
        joints([0.0] * 6)
        assert world.held == 1 and len(world.trajectories) == 1
        angle = units.width_to_micrometres(0.02).to_bytes(4, "big") + (2500).to_bytes(2, "big")
        firmware.on_frame(frames.GRIPPER_CTRL, angle + bytes([0x01, 0]))
        assert world.grips == [(pytest.approx(0.02), pytest.approx(20.0))]
    finally:
        firmware.close()
