"""The simulated mobile manipulator in its world, as plain Python, with the members the sim's physics thread
(``sim.runner.PhysicsRunner``) and action servers (``sim.controllers``) use on the Franka's ``SimWorld``.

``WheeledRobotSim`` drives the base (posture, skid-steer wheels, brake) and the arm's gravity feed-forward;
this adds the arm's trajectories (the Franka's ``Trajectory``, interpolated in sim time), the gripper (the
Franka's ``FingerMotion`` on the PiPER's finger servo), velocity commands with a sim-time watchdog, the
door latch, ground-truth odometry and the cameras. Not thread-safe: the physics thread owns it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mujoco
import numpy as np

from maestro_tools.common.errors import InvalidArgumentError, NotFoundError
from maestro_tools.robots import get_robot
from maestro_tools.sim.cameras import Cameras
from maestro_tools.sim.control import FingerMotion, JointLimits, Trajectory
from maestro_tools.sim.mobile.command import VelocityWatchdog
from maestro_tools.sim.mobile.house import DoorLatch, house_world
from maestro_tools.sim.mobile.robot import WheeledRobotSim

WORLDS = ("house",)
SETTLE_TIME = 0.5  # s simulated after the start so the robot stands on its wheels
BASE_STILL = 0.01  # m/s or rad/s: slower, the base stands still


@dataclass(frozen=True)
class WorldInfo:
    world: str
    objects: tuple[str, ...]


@dataclass(frozen=True)
class BaseState:
    """Ground truth of the base in the world: pose and velocity (its own frame)."""

    position: np.ndarray  # (3,) m
    quaternion: np.ndarray  # (4,) w, x, y, z
    linear: np.ndarray  # (3,) m/s, base frame
    angular: np.ndarray  # (3,) rad/s, base frame


class MobileWorld:
    """One robot (``robot``: a profile with a wheeled base, an arm and a gripper) in a world."""

    def __init__(
        self,
        robot: str = "go2w_piper",
        world: str = "house",
        *,
        width: int = 640,
        height: int = 480,
        cmd_vel_timeout: float = 0.5,
        grasp_force: float | None = None,
    ) -> None:
        if world not in WORLDS:
            raise InvalidArgumentError(f"unknown world {world!r}; valid: {', '.join(WORLDS)}")
        self.profile = get_robot(robot)
        if self.profile.arm is None or self.profile.gripper is None or self.profile.base is None:
            raise InvalidArgumentError(f"the robot {robot!r} needs a base, an arm and a gripper")
        self.arm, self.gripper = self.profile.arm, self.profile.gripper
        self.grasp_force = self.gripper.grasp_force if grasp_force is None else float(grasp_force)
        if not 0.0 < self.grasp_force <= self.gripper.max_force:
            raise InvalidArgumentError(
                f"grasp_force must be in (0, {self.gripper.max_force:g}] N (the gripper's max_force); "
                f"got {grasp_force}"
            )
        self.width, self.height = width, height
        spec, self.layout = house_world(self.profile)
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self.robot = WheeledRobotSim(self.model, self.data, self.profile)
        self.latch = DoorLatch(self.model)
        self.watchdog = VelocityWatchdog(cmd_vel_timeout)
        self.on_watchdog: Callable[[], None] = lambda: None  # called (physics thread) when it stops the base
        self.info = WorldInfo(world, self.layout.objects)
        self._index()
        self.cameras: Cameras | None = None
        self.trajectory: Trajectory | None = None
        self._fingers: FingerMotion | None = None
        self.robot.reset(*self.layout.robot_start)
        self.data.ctrl[self._finger_ctrl] = self.gripper.max_width / 2  # open (not the widened range's top)
        self.step_for(SETTLE_TIME)

    def _index(self) -> None:
        model, robot, base = self.model, self.robot, self.profile.base
        assert base is not None

        def joints(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
            ids = [model.joint(n).id for n in names]
            return model.jnt_qposadr[ids], model.jnt_dofadr[ids]

        mjcf = (*(j for j, _ in base.posture), *base.wheel_joints)
        self.joint_names = [
            *(self.profile.ros_names(j) for j in mjcf),
            *self.arm.joints,
            *self.gripper.finger_joints,
        ]
        qpos, dofs = joints((*mjcf, *self.arm.mjcf_joints, *self.gripper.mjcf_finger_joints))
        self._state_qpos, self._state_dof = qpos, dofs
        self.arm_qpos, self.arm_dof = joints(self.arm.mjcf_joints)
        self.finger_qpos, self.finger_dof = joints(self.gripper.mjcf_finger_joints)
        ranges = model.jnt_range[[model.joint(n).id for n in self.arm.mjcf_joints]]
        self.limits = JointLimits(self.arm.joints, ranges[:, 0], ranges[:, 1])
        self._arm_ctrl = robot.arm_actuators
        self._finger_ctrl = robot.gripper_actuator
        # The finger servo's set-point is one finger's position (joint7; joint8 follows): half the opening.
        self._finger_kp = float(model.actuator_gainprm[self._finger_ctrl, 0])
        reach = self._full_offset(self.gripper.max_force)
        model.actuator_ctrlrange[self._finger_ctrl] = [-reach / 2, (self.gripper.max_width + reach) / 2]
        finger_bodies = {int(model.jnt_bodyid[model.joint(n).id]) for n in self.gripper.mjcf_finger_joints}
        self._finger_geoms = [
            {g for g in range(model.ngeom) if model.geom_bodyid[g] == body} for body in finger_bodies
        ]
        self._object_geoms: dict[str, set[int]] = {}
        for name, label in self.layout.geom_labels.items():
            self._object_geoms.setdefault(label, set()).add(model.geom(name).id)

    def _full_offset(self, force: float) -> float:
        """Set-point offset past the opening (m) at which the finger servo pushes with ``force`` N."""
        return 2.0 * force / self._finger_kp

    # -- stepping --------------------------------------------------------------------------------
    @property
    def time(self) -> float:
        return float(self.data.time)

    def step(self, count: int = 1) -> None:
        """``count`` physics steps: trajectory and finger set-points each step, the latch and the
        watchdog each control period (with the base controller)."""
        robot, data = self.robot, self.data
        for _ in range(count):
            if self.trajectory is not None:
                data.ctrl[self._arm_ctrl[self.trajectory.indices]] = self.trajectory.target(self.time)
            if self._fingers is not None:
                width = self.gripper_width()
                data.ctrl[self._finger_ctrl] = self._fingers.setpoint(self.time, width) / 2
                if self._fingers.done:
                    self._fingers = None
            if robot.control_due:
                self.latch.update(data)
                if self.watchdog.expired(self.time):
                    robot.set_cmd_vel(0.0, 0.0)
                    self.on_watchdog()
            robot.advance(1)

    def step_for(self, seconds: float) -> None:
        self.step(max(1, round(seconds / self.model.opt.timestep)))

    # -- the base --------------------------------------------------------------------------------
    def command_velocity(self, linear: float, angular: float) -> None:
        """Drive at ``linear`` m/s and ``angular`` rad/s (clamped to the base's limits) until the next
        command, or until the watchdog stops the base."""
        self.robot.set_cmd_vel(linear, angular)
        self.watchdog.command(self.time, moving=bool(np.any(self.robot.drive.command != 0.0)))

    def base_moving(self) -> bool:
        """The base is commanded, ramping down, or still rolling."""
        linear, angular = self.robot.twist()
        return not self.robot.drive.idle or max(abs(linear), abs(angular)) > BASE_STILL

    def base_state(self) -> BaseState:
        body = self.robot.base_body
        velocity = np.zeros(6)  # angular, then linear, in the body's frame
        mujoco.mj_objectVelocity(self.model, self.data, mujoco.mjtObj.mjOBJ_XBODY, body, velocity, 1)
        position, quaternion = self.data.xpos[body].copy(), self.data.xquat[body].copy()
        return BaseState(position, quaternion, velocity[3:].copy(), velocity[:3].copy())

    # -- the arm and gripper (as SimWorld) ---------------------------------------------------------
    def arm_positions(self) -> np.ndarray:
        return self.data.qpos[self.arm_qpos].copy()

    def start_trajectory(self, trajectory: Trajectory) -> None:
        trajectory.start = self.data.ctrl[self._arm_ctrl[trajectory.indices]].copy()
        trajectory.start_time = self.time
        self.trajectory = trajectory

    def hold(self) -> None:
        """Stop any trajectory and hold the arm where it is now."""
        self.trajectory = None
        self.data.ctrl[self._arm_ctrl] = self.arm_positions()

    def set_gripper(self, width: float, force: float | None = None) -> float:
        """Start moving the fingers to opening ``width`` (m) at the gripper's speed; whatever stops them
        is pushed with ``force`` N (None or <= 0: ``grasp_force``; at most max_force). Returns it."""
        self._fingers, squeeze = FingerMotion.command(
            width,
            force,
            opening=self.gripper_width(),
            now=self.time,
            gripper=self.gripper,
            default_force=self.grasp_force,
            offset_for=self._full_offset,
        )
        return squeeze

    def gripper_width(self) -> float:
        return float(self.data.qpos[self.finger_qpos].sum())

    def gripper_effort(self) -> float:
        """The force (N) the finger servo closes with now; negative while it pushes them open."""
        return float(-self.data.actuator_force[self._finger_ctrl])

    def grasped(self, label: str) -> bool:
        """Both fingers touch the object (False for an object without labelled geoms)."""
        if label not in self.info.objects and label not in self._object_geoms:
            raise NotFoundError(f"no object {label!r}; objects: {', '.join(self.info.objects)}")
        mine = self._object_geoms.get(label, set())
        touched = [False] * len(self._finger_geoms)
        for contact in self.data.contact[: self.data.ncon]:
            pair = {int(contact.geom1), int(contact.geom2)}
            if pair & mine:
                for k, fingers in enumerate(self._finger_geoms):
                    touched[k] = touched[k] or bool(pair & fingers)
        return all(touched)

    def joint_state(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """Legs, wheels, arm, fingers: positions, velocities, actuator efforts."""
        dofs = self._state_dof
        return (
            self.joint_names,
            self.data.qpos[self._state_qpos].copy(),
            self.data.qvel[dofs].copy(),
            self.data.qfrc_actuator[dofs].copy(),
        )

    # -- rendering ---------------------------------------------------------------------------------
    def render_cameras(self) -> Cameras:
        if self.cameras is None:  # created in the thread that renders
            names = {c.name: c.mjcf_camera for c in self.profile.cameras}
            self.cameras = Cameras(self.model, self.width, self.height, names)
        return self.cameras

    def close(self) -> None:
        if self.cameras is not None:
            self.cameras.close()
            self.cameras = None
