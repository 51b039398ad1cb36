"""The simulated mobile manipulator in its world, as plain Python, with the members the sim's physics thread
(``sim.runner.PhysicsRunner``) and action servers (``sim.controllers``) use on the Franka's ``SimWorld``.

``WheeledRobotSim`` drives the base (posture, skid-steer wheels, brake) and the arm's gravity feed-forward;
this adds the arm's trajectories (the Franka's ``Trajectory``, interpolated in sim time), the gripper (the
Franka's ``FingerMotion`` on the PiPER's finger servo), velocity commands with a sim-time watchdog, the
door latch, ground-truth odometry, the body posture's trajectories (``mobile/body.py``) and the cameras,
and a house task (``mobile/tasks``): ``reset`` rebuilds the house for a (task, seed, perturbation), the
scorer latches the task's stages every ``SCORER_PERIOD``, and ``ground_truth`` gives the
``get_segmentation`` view in the base frame. Not thread-safe: the physics thread owns it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mujoco
import numpy as np

from maestro_tools.common.errors import ErrorCode, InvalidArgumentError, NotFoundError
from maestro_tools.robots import get_robot
from maestro_tools.sim.cameras import Cameras
from maestro_tools.sim.control import FingerMotion, JointLimits, Trajectory
from maestro_tools.sim.ground_truth import GroundTruthView
from maestro_tools.sim.mobile.body import BodyMotion
from maestro_tools.sim.mobile.command import VelocityWatchdog
from maestro_tools.sim.mobile.house import DoorLatch, default_setup, house_world
from maestro_tools.sim.mobile.robot import WheeledRobotSim
from maestro_tools.sim.mobile.tasks import make_house_task
from maestro_tools.sim.tasks.base import Variation, check_reset
from maestro_tools.sim.world import SceneInfo, StageReport

WORLDS = ("house",)
SETTLE_TIME = 0.5  # s simulated after the start so the robot stands on its wheels
BASE_STILL = 0.01  # m/s or rad/s: slower, the base stands still
SCORER_PERIOD = 0.02  # s of simulation time between task scorer updates
BACKGROUND = ("floor", "ceiling", "wall")  # labelled geoms that segmentation leaves as background (0)


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
        task: str = "trash_ball",
        seed: int = 0,
        perturbation: str = "none",
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
        self.width, self.height, self.world_name = width, height, world
        self.watchdog = VelocityWatchdog(cmd_vel_timeout)
        self.on_watchdog: Callable[[], None] = lambda: None  # called (physics thread) when it stops the base
        self.cameras: Cameras | None = None
        self.reset(task, seed, perturbation)

    def reset(self, task: str, seed: int = 0, perturbation: str = "none") -> SceneInfo:
        """Rebuild the house for ``task``; the same (task, seed, perturbation) gives the same scene. Sim
        time runs on (/clock never jumps back); the model, data and ``robot`` are new objects."""
        perturbation = check_reset(seed, perturbation)
        task_impl = make_house_task(task)
        setup = default_setup()
        instruction, objects = task_impl.reset(setup, Variation(task, seed, perturbation))
        spec, layout = house_world(self.profile, setup)
        model = spec.compile()
        now = self.data.time if hasattr(self, "data") else 0.0
        if self.cameras is not None:
            self.cameras.close()
            self.cameras = None
        self.model, self.data, self.layout, self.task = model, mujoco.MjData(model), layout, task_impl
        if hasattr(self, "body"):
            self.body.finish_running(ErrorCode.PREEMPTED, "preempted by a scene reset")
        self.robot = WheeledRobotSim(self.model, self.data, self.profile)
        self.body = BodyMotion(self.robot)  # body_height / body_pitch trajectories (a legged base)
        self.latch = DoorLatch(self.model)
        self.info = SceneInfo(task, seed, perturbation, instruction, tuple(objects))
        self._index()
        self.trajectory: Trajectory | None = None
        self._fingers: FingerMotion | None = None
        self.robot.reset(*layout.robot_start)
        self.data.time = now
        self.data.ctrl[self._finger_ctrl] = self.gripper.max_width / 2  # open (not the widened range's top)
        self.watchdog.command(now, moving=False)
        self._next_score = float("inf")  # no scoring while the scene settles
        self.step_for(SETTLE_TIME)
        self._rest_height = {label: float(self.data.xpos[body][2]) for label, body in self._bodies.items()}
        self.reached = {stage.name: False for stage in task_impl.stages}
        self._next_score = self.time
        return self.info

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
        self._bodies = {label: model.body(name).id for label, name in self.layout.bodies.items()}
        # Instances: the task's objects first, then the rest of the house, then the robot.
        labels = [*self.info.objects, *self._object_geoms]
        labels = [label for label in dict.fromkeys(labels) if label not in BACKGROUND]
        self.instance_labels = ["background", *labels, "robot"]
        self.geom_instance = np.zeros(model.ngeom, dtype=np.int32)
        for label, geoms in self._object_geoms.items():
            if label in labels:
                self.geom_instance[list(geoms)] = self.instance_labels.index(label)
        root = model.body_rootid[robot.base_body]
        self.geom_instance[model.body_rootid[model.geom_bodyid] == root] = len(self.instance_labels) - 1

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
                self.body.update(self.time)
                if self.watchdog.expired(self.time):
                    robot.set_cmd_vel(0.0, 0.0)
                    self.on_watchdog()
            robot.advance(1)
            if self.time >= self._next_score:
                self._next_score = self.time + SCORER_PERIOD
                self.task.on_step(self)
                for name, held in self.task.check(self).items():
                    self.reached[name] = self.reached[name] or held

    def step_for(self, seconds: float) -> None:
        self.step(max(1, round(seconds / self.model.opt.timestep)))

    # -- the base --------------------------------------------------------------------------------
    def command_velocity(self, linear: float, angular: float) -> None:
        """Drive at ``linear`` m/s and ``angular`` rad/s (clamped to the base's limits) until the next
        command, or until the watchdog stops the base."""
        self.robot.set_cmd_vel(linear, angular)
        self.watchdog.command(self.time, moving=bool(np.any(self.robot.drive.command != 0.0)))

    def base_moving(self) -> bool:
        """The base is commanded, ramping down, still rolling, or its body changes posture."""
        linear, angular = self.robot.twist()
        return not self.robot.drive.idle or max(abs(linear), abs(angular)) > BASE_STILL or self.body.moving()

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

    # -- the scene and its task ---------------------------------------------------------------------
    def body_id(self, label: str) -> int:
        if label not in self._bodies:
            raise NotFoundError(f"no object {label!r} in the house; objects: {', '.join(self._bodies)}")
        return self._bodies[label]

    def position(self, label: str) -> np.ndarray:
        """The object's origin in the world (= map) frame."""
        return self.data.xpos[self.body_id(label)].copy()

    def set_object_pose(self, label: str, position: np.ndarray) -> None:
        """Teleport a free object (tests, scripted set-ups) to ``position``, upright and still."""
        body = self.body_id(label)
        joint = self.model.body_jntadr[body]
        if joint < 0 or self.model.jnt_type[joint] != mujoco.mjtJoint.mjJNT_FREE:
            raise InvalidArgumentError(f"{label!r} is fixed to the house; only free objects can be moved")
        address, dof = self.model.jnt_qposadr[joint], self.model.jnt_dofadr[joint]
        self.data.qpos[address : address + 7] = [*position, 1.0, 0.0, 0.0, 0.0]
        self.data.qvel[dof : dof + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def height_above_rest(self, label: str) -> float:
        """How far the object is above where it rested after the reset."""
        return float(self.position(label)[2] - self._rest_height[label])

    def door_angle(self) -> float:
        return self.latch.door_angle(self.data)

    def handle_angle(self) -> float:
        return self.latch.handle_angle(self.data)

    def progress(self) -> tuple[float, list[StageReport]]:
        """The task's score (0..100) from the stages reached (latched) so far, and each stage."""
        score = float(self.task.progress(self.reached))
        return score, [StageReport(s.name, s.points, self.reached[s.name]) for s in self.task.stages]

    def base_pose(self) -> np.ndarray:
        """4x4 pose of base_link in the world (= map) frame."""
        pose, body = np.eye(4), self.robot.base_body
        pose[:3, :3] = self.data.xmat[body].reshape(3, 3)
        pose[:3, 3] = self.data.xpos[body]
        return pose

    def ground_truth(self, camera: str) -> GroundTruthView:
        """One camera's rgb, depth and instance ids at this instant, the instance labels, and every
        labelled object's origin (under its label); poses in base_link, as the sim detector expects."""
        cameras = self.render_cameras()
        world_to_base = np.linalg.inv(self.base_pose())
        rotation, translation = world_to_base[:3, :3], world_to_base[:3, 3]
        return GroundTruthView(
            camera=camera,
            frame=cameras.frame(self.data, camera),
            instances=cameras.segmentation(self.data, camera, self.geom_instance),
            intrinsics=cameras.intrinsics(camera),
            camera_pose=world_to_base @ cameras.pose(self.data, camera),
            labels=list(self.instance_labels),
            sites={label: rotation @ self.data.xpos[b] + translation for label, b in self._bodies.items()},
            optical_frame=self.profile.camera(camera).optical_frame,
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
