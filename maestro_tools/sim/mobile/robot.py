"""A wheeled mobile manipulator in MuJoCo: the posture joints held (a legged robot's stand), the wheels
driven skid-steer from a (vx, wz) command, the arm's servos holding with gravity feed-forward.

Plain Python over a compiled model that contains the robot's MJCF (alone or in a world). What it reads
of the robot comes from its profile (``BaseSpec``: wheels, radius, track, limits, posture; ``ArmSpec``).
A legged base lowers and pitches its body on command (``set_body_posture``, within the profile's
``min_height_offset`` and ``max_pitch``): the legs' planar IK (``robots.body_posture``) keeps the wheel
axles where they stand, the set-point moves at a limited rate, and the braked wheels turn with the calves
so the tyres do not roll. The speed loop measures the base's forward speed and yaw rate as an IMU and
wheel encoders would (here the base body's velocity, noise-free); the real robot's own controller does
the same job. A tip guard stands in for the real robot's balance: the wheels stop pushing while the body
leans beyond its posture (``TIP_TILT``), as it does against a wall on locked legs.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.robots.body_posture import BodyPosture, LegPosture
from maestro_tools.robots.profile import BaseSpec, RobotProfile
from maestro_tools.sim.mobile.drive import SkidSteerDrive

CONTROL_PERIOD = 0.01  # s: the base controller runs at 100 Hz
BRAKE_GAIN = 20.0  # (rad/s) per rad a wheel creeps from where it stopped
GROUND_CLEARANCE = 0.002  # m the wheels start above the ground at a reset
BODY_RATE = (0.2, 0.6)  # m/s and rad/s: the body posture's set-point moves at most this fast
# The real robot's balance controller keeps it upright when it pushes against something; on locked legs
# the wheels' traction against a wall tips the body over (head-on at 0.2 m/s, in a physics probe). The tip
# guard takes over when the body tilts beyond TIP_TILT (roll, or pitch off its posture's): it brakes the
# wheels while the tilt grows, then lets them roll free (no torque) so the body settles back onto them,
# until it is within SETTLED_TILT for TIP_HOLD s; the drive's ramp and integrators then restart from rest.
TIP_TILT, SETTLED_TILT, TIP_HOLD = math.radians(6.0), math.radians(2.0), 0.3  # rad, rad, s


def _actuator_on(model: mujoco.MjModel, joint: str) -> int:
    """The actuator driving ``joint`` directly."""
    joint_id = model.joint(joint).id
    for actuator in range(model.nu):
        if (
            model.actuator_trntype[actuator] == mujoco.mjtTrn.mjTRN_JOINT
            and model.actuator_trnid[actuator, 0] == joint_id
        ):
            return actuator
    raise InvalidArgumentError(f"no actuator drives the joint {joint!r}")


def yaw_of(quat: np.ndarray) -> float:
    """Heading (rad) of a MuJoCo (w, x, y, z) quaternion."""
    w, x, y, z = quat
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


class WheeledRobotSim:
    """Drives one wheeled robot in ``model``/``data``; ``step`` advances the physics."""

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData, profile: RobotProfile) -> None:
        if profile.base is None:
            raise InvalidArgumentError(f"the robot {profile.name!r} has no base to drive")
        self.model, self.data, self.profile = model, data, profile
        self.base: BaseSpec = profile.base
        self.drive = SkidSteerDrive(self.base)
        roots = [
            b for b in range(1, model.nbody) if profile.ros_names(model.body(b).name) == profile.base_frame
        ]
        root = roots[0] if roots else -1
        if (
            root < 0
            or model.body_jntnum[root] != 1
            or model.jnt_type[model.body_jntadr[root]] != mujoco.mjtJoint.mjJNT_FREE
        ):
            raise InvalidArgumentError(f"the model needs {profile.base_frame!r} as a free body (free joint)")
        self.base_body = root
        self.free_qpos = int(model.jnt_qposadr[model.body_jntadr[root]])
        self.left = [_actuator_on(model, j) for j in self.base.left_wheels]
        self.right = [_actuator_on(model, j) for j in self.base.right_wheels]
        self.wheel_qpos = np.array([model.jnt_qposadr[model.joint(j).id] for j in self.base.wheel_joints])
        self.wheel_dofs = np.array([model.jnt_dofadr[model.joint(j).id] for j in self.base.wheel_joints])
        self.wheel_bodies = [int(model.jnt_bodyid[model.joint(j).id]) for j in self.base.wheel_joints]
        self.posture_actuators = np.array([_actuator_on(model, j) for j, _ in self.base.posture], dtype=int)
        self.posture_qpos = np.array(
            [model.jnt_qposadr[model.joint(j).id] for j, _ in self.base.posture], dtype=int
        )
        self.posture = np.array([value for _, value in self.base.posture])
        movable = self.base.min_height_offset < 0 or self.base.max_pitch > 0
        self.legs = LegPosture(model, profile) if movable and self.base.posture else None
        self.body_goal = self.body_setpoint = BodyPosture()
        self.stand_height = 0.0  # m, base_link above the floor in the stand (set by reset)
        self._wheel_turn = np.zeros(len(self.wheel_qpos))  # rad the braked wheels turn with the calves
        arm = profile.arm
        joints = arm.mjcf_joints if arm else ()
        self.arm_home = np.array(arm.home if arm else ())
        self.arm_actuators = np.array([_actuator_on(model, j) for j in joints], dtype=int)
        self.arm_dofs = np.array([model.jnt_dofadr[model.joint(j).id] for j in joints], dtype=int)
        self.arm_qpos = np.array([model.jnt_qposadr[model.joint(j).id] for j in joints], dtype=int)
        fingers = profile.gripper.mjcf_finger_joints if profile.gripper else ()
        self.gripper_actuator = _actuator_on(model, fingers[0]) if fingers else None
        self.substeps = max(1, round(CONTROL_PERIOD / model.opt.timestep))
        self._phase = 0  # physics steps since the controller last ran
        self._brake_hold: np.ndarray | None = None
        self._tip_hold = 0.0  # s the tip guard still holds the wheels
        self._last_tilt = 0.0

    # -- state ------------------------------------------------------------------------------------
    def reset(self, xy: tuple[float, float] = (0.0, 0.0), yaw: float = 0.0) -> None:
        """Stand the robot at ``xy``, ``yaw`` on flat ground (z = 0), posture and arm at home, still."""
        model, data = self.model, self.data
        mujoco.mj_resetData(model, data)
        data.qpos[self.posture_qpos] = self.posture
        data.qpos[self.arm_qpos] = self.arm_home
        free = self.free_qpos
        data.qpos[free : free + 7] = [*xy, 0.0, math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]
        mujoco.mj_kinematics(model, data)
        lowest = min(data.xpos[b][2] for b in self.wheel_bodies) - self.base.wheel_radius
        data.qpos[free + 2] = GROUND_CLEARANCE - lowest
        self.stand_height = -float(lowest)
        self.body_goal = self.body_setpoint = BodyPosture()
        self._wheel_turn = np.zeros(len(self.wheel_qpos))
        data.ctrl[self.posture_actuators] = self.posture
        data.ctrl[self.arm_actuators] = data.qpos[self.arm_qpos]
        if self.gripper_actuator is not None:
            data.ctrl[self.gripper_actuator] = model.actuator_ctrlrange[self.gripper_actuator, 1]
        mujoco.mj_forward(model, data)
        self.drive.reset()
        self._brake_hold, self._phase, self._tip_hold, self._last_tilt = None, 0, 0.0, 0.0

    def pose(self) -> tuple[float, float, float]:
        """Ground-truth (x, y, yaw) of the base in the world."""
        qpos = self.data.qpos[self.free_qpos : self.free_qpos + 7]
        return float(qpos[0]), float(qpos[1]), yaw_of(qpos[3:7])

    def twist(self) -> tuple[float, float]:
        """The base's forward speed (m/s) and yaw rate (rad/s), in its own frame."""
        velocity = np.zeros(6)  # angular, then linear
        mujoco.mj_objectVelocity(
            self.model, self.data, mujoco.mjtObj.mjOBJ_XBODY, self.base_body, velocity, 1
        )
        return float(velocity[3]), float(velocity[2])

    def height(self) -> float:
        return float(self.data.qpos[self.free_qpos + 2])

    def tilt(self) -> float:
        """Angle (rad) between the base's z axis and the world's."""
        return float(math.acos(np.clip(self.data.xmat[self.base_body][8], -1.0, 1.0)))

    def tilt_off_posture(self) -> float:
        """Angle (rad) the body leans beyond its posture: its roll, or its pitch off the set-point's."""
        m = self.data.xmat[self.base_body]
        roll = math.atan2(float(m[7]), float(m[8]))
        return max(abs(roll), abs(self.body_posture().pitch - self.body_setpoint.pitch))

    @property
    def tip_guarded(self) -> bool:
        """The tip guard holds the wheels now."""
        return self._tip_hold > 0.0

    def body_posture(self) -> BodyPosture:
        """The body's measured height above its stand (m; flat floor at z = 0) and pitch (rad, nose down)."""
        pitch = math.asin(float(np.clip(-self.data.xmat[self.base_body][6], -1.0, 1.0)))
        return BodyPosture(self.height() - self.stand_height, pitch)

    # -- commands ---------------------------------------------------------------------------------
    def set_body_posture(self, posture: BodyPosture) -> None:
        """Move the body to ``posture`` (from the stand) at ``BODY_RATE``; OutOfLimitsError outside the
        base's range or the legs' reach, InvalidArgumentError for a robot without one."""
        if self.legs is None:
            raise InvalidArgumentError(f"the {self.profile.name}'s body does not lower or pitch")
        self.legs.solve(posture.check(self.base))
        self.body_goal = posture

    def body_settled(self) -> bool:
        """The body's set-point has reached its goal."""
        return self.body_setpoint == self.body_goal

    def set_cmd_vel(self, linear: float, angular: float) -> None:
        self.drive.set_command(linear, angular)

    def set_arm(self, positions: np.ndarray) -> None:
        self.data.ctrl[self.arm_actuators] = positions

    # -- physics ----------------------------------------------------------------------------------
    def step(self, seconds: float = CONTROL_PERIOD) -> None:
        """Advance by ``seconds`` (whole control periods)."""
        self.advance(max(1, round(seconds / CONTROL_PERIOD)) * self.substeps)

    @property
    def control_due(self) -> bool:
        """The base controller runs before the next physics step."""
        return self._phase == 0

    def advance(self, steps: int) -> None:
        """Advance by ``steps`` physics steps; the base controller runs once per control period."""
        for _ in range(steps):
            if self._phase == 0:
                self._control()
            self._phase = (self._phase + 1) % self.substeps
            # The arm's firmware cancels gravity and Coriolis forces on its joints (an internal torque).
            self.data.qfrc_applied[self.arm_dofs] = self.data.qfrc_bias[self.arm_dofs]
            mujoco.mj_step(self.model, self.data)

    def _move_body(self) -> np.ndarray:
        """Step the posture set-point towards its goal; returns the wheels' turn rate (rad/s) that keeps
        the tyres from rolling."""
        if self.legs is None or self.body_settled():
            return np.zeros(len(self.wheel_qpos))
        now, goal = self.body_setpoint, self.body_goal
        dh, dp = (BODY_RATE[0] * CONTROL_PERIOD, BODY_RATE[1] * CONTROL_PERIOD)
        self.body_setpoint = BodyPosture(
            now.height + float(np.clip(goal.height - now.height, -dh, dh)),
            now.pitch + float(np.clip(goal.pitch - now.pitch, -dp, dp)),
        )
        if abs(goal.height - self.body_setpoint.height) + abs(goal.pitch - self.body_setpoint.pitch) < 1e-9:
            self.body_setpoint = goal
        q = self.legs.solve(self.body_setpoint)
        self.data.ctrl[self.posture_actuators] = q
        turn = self.legs.wheel_turn(self.body_setpoint, q)
        rate, self._wheel_turn = (turn - self._wheel_turn) / CONTROL_PERIOD, turn
        if self._brake_hold is not None:
            self._brake_hold = self._brake_hold + rate * CONTROL_PERIOD
        return rate

    def _control(self) -> None:
        data = self.data
        turning = self._move_body()
        left, right = self.drive.update(*self.twist(), CONTROL_PERIOD)
        tilt = self.tilt_off_posture()
        rising, self._last_tilt = tilt > self._last_tilt, tilt
        if tilt > TIP_TILT or (self._tip_hold > 0.0 and tilt > SETTLED_TILT):
            self._tip_hold = TIP_HOLD
        elif self._tip_hold > 0.0:
            self._tip_hold = max(0.0, self._tip_hold - CONTROL_PERIOD)
        if self._tip_hold > 0.0:
            self.drive.rest()  # no ramp or integral carried against what holds the base
            if not rising:  # free wheels (the servos' set-point is their speed): it settles back
                self._brake_hold = None
                data.ctrl[[*self.left, *self.right]] = data.qvel[self.wheel_dofs]
                return
        if self.drive.idle or self._tip_hold > 0.0:  # brake: hold the wheels where they stopped
            if self._brake_hold is None:
                self._brake_hold = data.qpos[self.wheel_qpos].copy()
            creep = data.qpos[self.wheel_qpos] - self._brake_hold
            data.ctrl[[*self.left, *self.right]] = turning - BRAKE_GAIN * creep
            return
        self._brake_hold = None
        data.ctrl[self.left] = left
        data.ctrl[self.right] = right
