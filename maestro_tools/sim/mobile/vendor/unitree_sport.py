"""The simulated Go2-W's Unitree sport-mode interface over DDS (unitree_sdk2py + cyclonedds), on loopback.

What the robot's sport service offers a ``SportClient`` is served here from the MuJoCo world, so the real
driver (``maestro_tools.drivers.go2w_driver``) runs against it unchanged:

- the RPC service ``sport`` (topics ``rt/api/sport/request`` / ``response``): Move (JSON ``{"x", "y", "z"}``
  m/s and rad/s; no reply), StopMove, StandUp, BalanceStand, RecoveryStand, StandDown, Damp, and Euler
  (``{"x", "y", "z"}`` roll, pitch, yaw in rad: the body's pitch, through the legs' IK; roll and yaw are
  not modelled and must be 0; refused outside the body's range; unitree_sdk2py 1.0.3 has no BodyHeight);
- ``rt/sportmodestate`` (``unitree_go.msg.dds_.SportModeState_``): position and velocity in the odometry
  frame, ``yaw_speed``, the IMU (quaternion w, x, y, z, rpy, gyroscope), ``body_height`` and ``mode``.

Move goes to ``MobileWorld.command_velocity`` through the physics thread (``PhysicsRunner.submit``), clamped
to the base's limits like the robot clamps to its own; the world's sim-time watchdog plays the robot's own
Move timeout. The state is the world's ground truth (the sim's ``odom`` topic reports the same), written
from the physics thread at most ``rate`` Hz of sim time (it runs when the node publishes joint states:
10 Hz while the robot stands still, up to 100 Hz while it moves).

DDS stays on this machine: the domain is created on the loopback interface only (``lo``), in its own
DDS domain id, apart from the ROS graph's.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from unitree_sdk2py.core.channel import ChannelFactoryInitialize, ChannelPublisher
from unitree_sdk2py.go2.sport import sport_api as api
from unitree_sdk2py.idl.default import unitree_go_msg_dds__SportModeState_
from unitree_sdk2py.idl.unitree_go.msg.dds_ import SportModeState_
from unitree_sdk2py.rpc.server import Server

from maestro_tools.common.errors import MaestroError
from maestro_tools.common.twist import clamp_twist
from maestro_tools.robots.body_posture import BodyPosture

if TYPE_CHECKING:
    from maestro_tools.sim.mobile.world import MobileWorld
    from maestro_tools.sim.runner import PhysicsRunner

LOOPBACK = "lo"
STATE_TOPIC = "rt/sportmodestate"
BALANCE_STAND, STAND_DOWN, DAMP = 1, 5, 7  # SportModeState.mode values
RPC_OK, RPC_REFUSED = 0, 3  # 3: a non-zero code the SDK hands back as is (the robot refuses a Move)


def rpy_of(quaternion: np.ndarray) -> tuple[float, float, float]:
    """Roll, pitch, yaw (rad) of a unit quaternion (w, x, y, z)."""
    w, x, y, z = (float(v) for v in quaternion)
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return roll, pitch, yaw


def rotation_of(quaternion: np.ndarray) -> np.ndarray:
    """3x3 rotation matrix of a unit quaternion (w, x, y, z)."""
    w, x, y, z = (float(v) for v in quaternion)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


class _SportServer(Server):
    """The ``sport`` RPC service with the handlers given (name -> (api id, handler))."""

    def __init__(self, handlers: dict[int, Callable[[str], tuple[int, str]]]) -> None:
        super().__init__(api.SPORT_SERVICE_NAME)
        # unitree_sdk2py 1.0.3: Server.__apiBinarySet is a dict but _RegistBinaryHandler calls .add() on it;
        # a set here makes binary handlers registrable without patching the installed package.
        self._Server__apiBinarySet = set()
        self._handlers = handlers

    def Init(self) -> None:  # noqa: N802 (the SDK's name)
        self._SetApiVersion(api.SPORT_API_VERSION)
        for api_id, handler in self._handlers.items():
            self._RegistHandler(api_id, handler, False)


class SimSportService:
    """Serves the ``sport`` service and ``rt/sportmodestate`` for ``world`` in DDS domain ``domain``."""

    def __init__(
        self,
        world: MobileWorld,
        runner: PhysicsRunner,
        domain: int,
        rate: float = 50.0,
        log: Callable[[str], None] = lambda text: None,
    ) -> None:
        assert world.profile.base is not None
        self.world, self.runner, self.base, self.log = world, runner, world.profile.base, log
        self.period = 1.0 / rate
        self.mode = BALANCE_STAND
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()
        self._next = 0.0
        ChannelFactoryInitialize(domain, LOOPBACK)  # one DDS domain per process (the SDK's singleton)
        self._message = unitree_go_msg_dds__SportModeState_()
        self._publisher = ChannelPublisher(STATE_TOPIC, SportModeState_)
        self._publisher.Init()

        def mode(name: str, value: int) -> Callable[[str], tuple[int, str]]:
            return lambda parameter: self._set_mode(name, value)

        self._server = _SportServer(
            {
                api.SPORT_API_ID_MOVE: self._move,
                api.SPORT_API_ID_STOPMOVE: self._stop_move,
                api.SPORT_API_ID_STANDUP: mode("StandUp", BALANCE_STAND),
                api.SPORT_API_ID_BALANCESTAND: mode("BalanceStand", BALANCE_STAND),
                api.SPORT_API_ID_RECOVERYSTAND: mode("RecoveryStand", BALANCE_STAND),
                api.SPORT_API_ID_STANDDOWN: mode("StandDown", STAND_DOWN),
                api.SPORT_API_ID_DAMP: mode("Damp", DAMP),
                api.SPORT_API_ID_EULER: self._euler,
            }
        )
        self._server.Init()
        self._server.Start(False)

    # -- RPC handlers (DDS threads): never touch MuJoCo, submit to the physics thread -----------------
    def _count(self, name: str) -> None:
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1

    def _drive(self, linear: float, angular: float) -> None:
        self.runner.submit(lambda: self.world.command_velocity(linear, angular))

    def _move(self, parameter: str) -> tuple[int, str]:
        self._count("Move")
        try:
            request: dict[str, Any] = json.loads(parameter)
            vx, vy, vyaw = (float(request[k]) for k in ("x", "y", "z"))
            command = clamp_twist(self.base, (vx, vy, 0.0), (0.0, 0.0, vyaw))
        except (ValueError, KeyError, TypeError, MaestroError) as exc:
            self.log(f"sport Move refused: {exc}")
            return RPC_REFUSED, ""
        if self.mode != BALANCE_STAND:  # lying down or damped: the robot does not walk
            return RPC_REFUSED, ""
        self._drive(command.linear, command.angular)
        return RPC_OK, ""

    def _euler(self, parameter: str) -> tuple[int, str]:
        """The body's attitude while standing: pitch only (the legs' IK keeps the wheels in place)."""
        self._count("Euler")
        robot = self.world.robot
        try:
            request: dict[str, Any] = json.loads(parameter)
            roll, pitch, yaw = (float(request[k]) for k in ("x", "y", "z"))
            if abs(roll) > 1e-6 or abs(yaw) > 1e-6 or not math.isfinite(pitch):
                raise ValueError(f"only pitch is simulated; got roll {roll}, yaw {yaw}")
            posture = BodyPosture(robot.body_goal.height, pitch)
            if self.mode != BALANCE_STAND:
                raise ValueError("the robot is not standing")
            self.runner.call(lambda: self.world.robot.set_body_posture(posture), timeout=2.0)
        except (ValueError, KeyError, TypeError, MaestroError) as exc:
            self.log(f"sport Euler refused: {exc}")
            return RPC_REFUSED, ""
        return RPC_OK, ""

    def _stop_move(self, parameter: str) -> tuple[int, str]:
        self._count("StopMove")
        self._drive(0.0, 0.0)
        return RPC_OK, ""

    def _set_mode(self, name: str, value: int) -> tuple[int, str]:
        self._count(name)
        self.mode = value
        self._drive(0.0, 0.0)
        return RPC_OK, ""

    # -- state (the physics thread) --------------------------------------------------------------------
    def publish(self, now: float) -> None:
        """Write ``rt/sportmodestate`` from the world's state, at most every ``period`` s of sim time."""
        if now < self._next:
            return
        self._next = now + self.period - 1e-9
        state, message = self.world.base_state(), self._message
        message.stamp.sec, message.stamp.nanosec = int(now), int((now % 1.0) * 1e9)
        message.mode = self.mode
        message.position = [float(v) for v in state.position]
        rotation = rotation_of(state.quaternion)
        message.velocity = [float(v) for v in rotation @ state.linear]  # odometry frame
        message.yaw_speed = float(state.angular[2])
        message.body_height = float(state.position[2])
        imu = message.imu_state
        imu.quaternion = [float(v) for v in state.quaternion]
        imu.rpy = list(rpy_of(state.quaternion))
        imu.gyroscope = [float(v) for v in state.angular]
        self._publisher.Write(message)

    def close(self) -> None:
        self._publisher.Close()
