"""The AgileX PiPER's CAN frames, as its firmware reads and writes them (plain Python, no SDK import).

Layouts from piper_sdk 0.6.2's protocol (``protocol_v2``); all integers big-endian, 8-byte frames.
Commands (host -> arm): 0x150 MotionCtrl_1 (emergency stop 0x01 / resume 0x02), 0x151 MotionCtrl_2
(control mode, move mode, speed %), 0x155-0x157 JointCtrl (two int32 each, 0.001 deg), 0x159 GripperCtrl
(int32 opening 0.001 mm, int16 effort 0.001 N*m, code: bit 0 enable), 0x471 motor enable (motor 1-7, 7 =
all; 0x02 enable, 0x01 disable). Feedback (arm -> host): 0x2A1 arm status, 0x2A5-0x2A7 joint positions,
0x2A8 gripper (opening, effort, status; bit 6 = enabled), 0x261-0x266 per-motor low-speed info (status
byte bit 6 = driver enabled).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

MOTION_CTRL_1, MOTION_CTRL_2 = 0x150, 0x151
JOINT_CTRL = (0x155, 0x156, 0x157)
GRIPPER_CTRL, MOTOR_ENABLE = 0x159, 0x471
ARM_STATUS, GRIPPER_FEEDBACK = 0x2A1, 0x2A8
JOINT_FEEDBACK = (0x2A5, 0x2A6, 0x2A7)
LOW_SPEED_FEEDBACK = tuple(range(0x261, 0x267))
CAN_CONTROL, MOVE_J = 0x01, 0x01  # MotionCtrl_2 control mode and move mode the joint commands need
ENABLE, DISABLE, ALL_MOTORS = 0x02, 0x01, 7
ENABLED_BIT = 1 << 6
EMERGENCY_STOP, RESUME = 0x01, 0x02
MILLIDEGREES_PER_RAD = 180_000.0 / math.pi
MICROMETRES_PER_M = 1e6


def rad_to_millidegrees(value: float) -> int:
    return int(round(value * MILLIDEGREES_PER_RAD))


def millidegrees_to_rad(value: int) -> float:
    return value / MILLIDEGREES_PER_RAD


def _pad(payload: bytes) -> bytes:
    return payload.ljust(8, b"\0")


# -- commands (decoded by the simulated firmware) ----------------------------------------------------
@dataclass(frozen=True)
class GripperCommandFrame:
    width: float  # m, opening
    effort: int  # 0.001 N*m
    enable: bool
    set_zero: bool


def decode_joint_pair(data: bytes) -> tuple[float, float]:
    """The two joint positions (rad) of a JointCtrl or joint feedback frame."""
    a, b = struct.unpack(">ii", bytes(data[:8]))
    return millidegrees_to_rad(a), millidegrees_to_rad(b)


def decode_gripper(data: bytes) -> GripperCommandFrame:
    angle, effort, code, zero = struct.unpack(">ihBB", bytes(data[:8]))
    return GripperCommandFrame(angle / MICROMETRES_PER_M, effort, bool(code & 0x01), zero == 0xAE)


# -- feedback (encoded by the simulated firmware) --------------------------------------------------
def joint_feedback(positions: list[float]) -> list[tuple[int, bytes]]:
    """Frames 0x2A5-0x2A7 for six joint positions (rad)."""
    values = [rad_to_millidegrees(p) for p in positions]
    return [(JOINT_FEEDBACK[k], struct.pack(">ii", values[2 * k], values[2 * k + 1])) for k in range(3)]


def gripper_feedback(width: float, effort: int, enabled: bool) -> tuple[int, bytes]:
    status = ENABLED_BIT if enabled else 0
    angle = int(round(width * MICROMETRES_PER_M))
    return GRIPPER_FEEDBACK, _pad(struct.pack(">ihB", angle, max(-32768, min(32767, effort)), status))


def low_speed_feedback(
    enabled: list[bool], volts: float = 24.0, temperature: int = 30
) -> list[tuple[int, bytes]]:
    """Frames 0x261-0x266, one per motor: bus voltage (0.1 V), driver and motor temperatures, status
    (bit 6: driver enabled), bus current."""
    return [
        (
            can_id,
            struct.pack(">HhbBH", int(volts * 10), temperature, temperature, ENABLED_BIT if on else 0, 0),
        )
        for can_id, on in zip(LOW_SPEED_FEEDBACK, enabled, strict=True)
    ]


def arm_status(ctrl_mode: int, move_mode: int, moving: bool, stopped: bool) -> tuple[int, bytes]:
    """Frame 0x2A1: control mode, arm status (0x01 emergency stop, 0 normal), mode feedback, teach status,
    motion status (0 reached, 1 moving), trajectory number, error code."""
    return ARM_STATUS, struct.pack(
        ">BBBBBBH", ctrl_mode, 0x01 if stopped else 0x00, move_mode, 0, int(moving), 0, 0
    )
