"""The simulated PiPER's firmware on a CAN bus: piper_sdk's ``C_PiperInterface_V2`` (through python-can's
``socketcand`` interface) drives the MuJoCo arm exactly as it drives the real one over ``can0``.

Like the arm, it takes joint commands only once enabled (0x471) and switched to CAN control in MOVE J
(0x151); the joints then move to each commanded position at the commanded speed (percent of
``MAX_JOINT_SPEED``), through the physics thread (``PhysicsRunner.submit``: a trajectory of the world's).
An emergency stop (0x150) holds the arm until resumed. The gripper (0x159, with its enable bit) moves the
fingers to the commanded opening, squeezing with the commanded effort scaled to the gripper's force.
Feedback (joint positions, gripper, arm status, per-motor enable) is written from the physics thread with
each joint-state instant, at most ``rate`` Hz of sim time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from maestro_tools.common.errors import MaestroError
from maestro_tools.sim.control import Trajectory
from maestro_tools.sim.mobile.vendor import piper_frames as frames
from maestro_tools.sim.mobile.vendor.socketcand import SocketcandServer

if TYPE_CHECKING:
    from maestro_tools.sim.mobile.world import MobileWorld
    from maestro_tools.sim.runner import PhysicsRunner

MAX_JOINT_SPEED = 3.0  # rad/s at 100 % speed (an estimate: AgileX lists ~180 deg/s joints)
FULL_EFFORT = 5000  # 0.001 N*m: the top of GripperCtrl's effort range, taken as the gripper's max_force
LOW_SPEED_PERIOD = 0.1  # s (sim time) between the per-motor info frames


class SimPiperFirmware:
    def __init__(
        self,
        world: MobileWorld,
        runner: PhysicsRunner,
        port: int,
        channel: str = "can0",
        rate: float = 100.0,
        log: Callable[[str], None] = lambda text: None,
    ) -> None:
        self.world, self.runner, self.log = world, runner, log
        self.period = 1.0 / rate
        self._lock = threading.Lock()
        self.enabled = [False] * 6
        self.ctrl_mode, self.move_mode, self.speed = 0x00, 0x00, 50
        self.stopped = False
        self.gripper_enabled = False
        self._pending: dict[int, tuple[float, float]] = {}
        self._target: np.ndarray | None = None
        self._gripper: tuple[float, int] | None = None
        self._next = self._next_slow = 0.0
        self.frames_seen: dict[int, int] = {}
        self.server = SocketcandServer(port, channel, self.on_frame)

    @property
    def arm_enabled(self) -> bool:
        return all(self.enabled)

    # -- commands (socketcand client threads) ----------------------------------------------------
    def on_frame(self, can_id: int, data: bytes) -> None:
        try:
            self._on_frame(can_id, data)
        except MaestroError as exc:  # the physics thread has stopped (shutting down)
            self.log(f"PiPER CAN frame 0x{can_id:03X} dropped: {exc}")

    def _on_frame(self, can_id: int, data: bytes) -> None:
        with self._lock:
            self.frames_seen[can_id] = self.frames_seen.get(can_id, 0) + 1
            if can_id == frames.MOTOR_ENABLE:
                motor, flag = data[0], data[1]
                motors = range(6) if motor == frames.ALL_MOTORS else [motor - 1] if 1 <= motor <= 6 else []
                for k in motors:
                    self.enabled[k] = flag == frames.ENABLE
            elif can_id == frames.MOTION_CTRL_1:
                if data[0] == frames.EMERGENCY_STOP:
                    self.stopped = True
                    self.runner.submit(self.world.hold)
                elif data[0] == frames.RESUME:
                    self.stopped = False
            elif can_id == frames.MOTION_CTRL_2:
                self.ctrl_mode, self.move_mode, self.speed = data[0], data[1], max(1, min(100, data[2]))
            elif can_id in frames.JOINT_CTRL:
                self._pending[can_id] = frames.decode_joint_pair(data)
                if can_id == frames.JOINT_CTRL[-1] and len(self._pending) == 3:
                    target = [q for c in frames.JOINT_CTRL for q in self._pending[c]]
                    self._pending.clear()
                    self._command_joints(np.array(target))
            elif can_id == frames.GRIPPER_CTRL:
                self._command_gripper(frames.decode_gripper(data))

    def _command_joints(self, target: np.ndarray) -> None:
        ready = self.arm_enabled and not self.stopped
        if not (ready and self.ctrl_mode == frames.CAN_CONTROL and self.move_mode == frames.MOVE_J):
            return  # the arm ignores joint commands until enabled and in CAN control, MOVE J
        limits = self.world.limits
        target = np.clip(target, limits.lower, limits.upper)  # the firmware's joint limits
        if self._target is not None and np.abs(target - self._target).max() < 1e-6:
            return
        self._target, speed = target, MAX_JOINT_SPEED * self.speed / 100.0

        def move() -> None:  # the physics thread
            distance = float(np.abs(target - self.world.arm_positions()).max())
            duration = max(distance / speed, 0.01)
            indices = np.arange(len(target))
            self.world.start_trajectory(Trajectory(indices, np.array([duration]), target[None, :].copy()))

        self.runner.submit(move)

    def _command_gripper(self, command: frames.GripperCommandFrame) -> None:
        self.gripper_enabled = command.enable
        if not command.enable:
            return
        width = float(np.clip(command.width, 0.0, self.world.gripper.max_width))
        if self._gripper == (width, command.effort):
            return
        self._gripper = (width, command.effort)
        force = command.effort / FULL_EFFORT * self.world.gripper.max_force if command.effort > 0 else None
        self.runner.submit(lambda: self.world.set_gripper(width, force))

    # -- feedback (the physics thread) -----------------------------------------------------------
    def publish(self, now: float) -> None:
        if now < self._next:
            return
        self._next = now + self.period - 1e-9
        world, send = self.world, self.server.send
        for can_id, data in frames.joint_feedback(world.arm_positions().tolist()):
            send(can_id, data)
        effort = int(round(world.gripper_effort() / world.gripper.max_force * FULL_EFFORT))
        send(*frames.gripper_feedback(world.gripper_width(), effort, self.gripper_enabled))
        moving = (
            world.trajectory is not None and now - world.trajectory.start_time < world.trajectory.duration
        )
        send(*frames.arm_status(self.ctrl_mode, self.move_mode, moving, self.stopped))
        if now >= self._next_slow:
            self._next_slow = now + LOW_SPEED_PERIOD - 1e-9
            for can_id, data in frames.low_speed_feedback(list(self.enabled)):
                send(can_id, data)

    def close(self) -> None:
        self.server.close()
