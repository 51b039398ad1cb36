"""The simulated Franka tabletop as plain Python: reset a task, step physics, control, score, render.

Not thread-safe: the sim node owns one SimWorld in its physics thread. Tests and benchmarks use it
directly, without ROS.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from maestro_tools.common.errors import InvalidArgumentError, NotFoundError
from maestro_tools.robots import get_robot
from maestro_tools.sim.cameras import Cameras
from maestro_tools.sim.control import FingerMotion, JointLimits, Trajectory
from maestro_tools.sim.scene import ROBOT, TUNED_TIMESTEP, SceneBuilder, slug
from maestro_tools.sim.tasks import make_task
from maestro_tools.sim.tasks.base import Variation, check_reset

SCORER_PERIOD = 0.02  # s of simulation time between task scorer updates
SETTLE_TIME = 0.3  # s simulated after a reset so objects come to rest
# The finger servo (the hand's one actuator, on the fingers' tendon): stiffness and damping in tendon
# space. Soft enough for explicit stepping (the fingers' tendon inertia is 0.23 kg), damped near
# critically; the force comes from the set-point offset (FingerMotion), not from a stiff servo.
FINGER_STIFFNESS = 6000.0  # N/m
FINGER_DAMPING = 60.0  # N s/m at 500 Hz (scaled like the arm's for longer steps)
# Contacts of the fingers (priority over the other geom's): stiffer than MuJoCo's default (0.02 s, which
# let a 70 N squeeze sink 1.4 mm into each side of a cube), so the width they stop at is the object's.
FINGER_SOLREF = (0.004, 1.0)  # s (MuJoCo raises it to 2 steps when the step is longer), damping ratio
FINGER_SOLIMP = (0.95, 0.99, 0.001, 0.5, 2.0)


@dataclass(frozen=True)
class SceneInfo:
    task: str
    seed: int
    perturbation: str
    instruction: str
    objects: tuple[str, ...]


@dataclass(frozen=True)
class StageReport:
    name: str
    points: float
    reached: bool


class SimWorld:
    """One MuJoCo tabletop scene with the Panda, rebuilt on every reset."""

    def __init__(
        self,
        task: str = "ball_in_bowl",
        seed: int = 0,
        perturbation: str = "none",
        *,
        width: int = 640,
        height: int = 480,
        timestep: float = 0.002,
        grasp_force: float | None = None,
    ) -> None:
        self.width, self.height, self.timestep = width, height, timestep
        self.profile = get_robot(ROBOT)
        assert self.profile.arm is not None and self.profile.gripper is not None
        self.arm, self.gripper = self.profile.arm, self.profile.gripper
        # N: the squeeze of a gripper command that names no force (GripperCommand max_effort <= 0).
        self.grasp_force = self.gripper.grasp_force if grasp_force is None else float(grasp_force)
        if not 0.0 < self.grasp_force <= self.gripper.max_force:
            raise InvalidArgumentError(
                f"grasp_force must be in (0, {self.gripper.max_force:g}] N (the gripper's max_force); "
                f"got {grasp_force}"
            )
        self.camera_names = {c.name: c.mjcf_camera or c.name for c in self.profile.cameras}
        self.cameras: Cameras | None = None
        self.reset(task, seed, perturbation)

    # -- scene -----------------------------------------------------------------------------------
    def reset(self, task: str, seed: int = 0, perturbation: str = "none") -> SceneInfo:
        """Rebuild the scene for ``task``; the same (task, seed, perturbation) gives the same scene."""
        perturbation = check_reset(seed, perturbation)
        task_impl = make_task(task)
        builder = SceneBuilder(self.width, self.height, self.timestep)
        instruction, objects = task_impl.reset(builder, Variation(task, seed, perturbation))
        self._compensate_gravity(builder.spec)
        model = builder.compile()
        data = mujoco.MjData(model)
        mujoco.mj_resetDataKeyframe(model, data, model.key("home").id)
        # Simulation time runs on across resets: /clock never jumps back for use_sim_time nodes.
        data.time = self.data.time if hasattr(self, "data") else 0.0
        mujoco.mj_forward(model, data)

        self.model, self.data, self.task = model, data, task_impl
        self.info = SceneInfo(task, seed, perturbation, instruction, tuple(objects))
        self._index_scene(builder, objects)
        if self.cameras is not None:
            self.cameras.close()
        self.cameras = None  # created lazily in the thread that renders
        self.trajectory: Trajectory | None = None
        self._fingers: FingerMotion | None = None
        self.set_gripper(self.gripper.max_width)
        self.reached = {stage.name: False for stage in task_impl.stages}
        self._next_score = 0.0
        self._rest_height: dict[str, float] = {}
        self.step_for(SETTLE_TIME)
        self._rest_height = {label: self.position(label)[2] for label in self._bodies}
        self.reached = {stage.name: False for stage in task_impl.stages}
        return self.info

    def _compensate_gravity(self, spec: mujoco.MjSpec) -> None:
        """The robot's controller cancels its own weight, as a Franka's does: without it the position
        servos sagged 2-9 mm at the TCP, so a move could not be judged against its target."""
        first = spec.joint(self.arm.mjcf_joints[0]).parent
        while first.parent.name != spec.worldbody.name:
            first = first.parent
        for body in [first, *first.find_all(mujoco.mjtObj.mjOBJ_BODY)]:
            body.gravcomp = 1.0

    def _index_scene(self, builder: SceneBuilder, objects: list[str]) -> None:
        model, geom_labels = self.model, builder.labels
        root = model.body_rootid[model.jnt_bodyid[model.joint(self.arm.mjcf_joints[0]).id]]
        robot_bodies = {b for b in range(model.nbody) if model.body_rootid[b] == root}
        self.robot_bodies = robot_bodies
        self.instance_labels: list[str] = ["background", *objects, "table", "robot"]
        self.geom_instance = np.zeros(model.ngeom, dtype=np.int32)
        for geom_id in range(model.ngeom):
            name = model.geom(geom_id).name
            label = geom_labels.get(name, "robot" if model.geom_bodyid[geom_id] in robot_bodies else "")
            if label:
                self.geom_instance[geom_id] = self.instance_labels.index(label)
        self.flex_instance = np.zeros(model.nflex, dtype=np.int32)
        for name, label in builder.flex_labels.items():
            self.flex_instance[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_FLEX, name)] = (
                self.instance_labels.index(label)
            )
        self._bodies = {label: model.body(builder.body_names.get(label, slug(label))).id for label in objects}
        self._object_geoms = {
            label: set(np.flatnonzero(self.geom_instance == self.instance_labels.index(label)))
            for label in objects
        }
        finger_joints = self.gripper.mjcf_finger_joints
        self._finger_geoms = [
            {g for g in range(model.ngeom) if model.geom_bodyid[g] == model.jnt_bodyid[model.joint(name).id]}
            for name in finger_joints
        ]
        arm_joints = self.arm.mjcf_joints
        self.arm_qpos = np.array([model.jnt_qposadr[model.joint(n).id] for n in arm_joints])
        self.arm_dof = np.array([model.jnt_dofadr[model.joint(n).id] for n in arm_joints])
        self.finger_qpos = np.array([model.jnt_qposadr[model.joint(n).id] for n in finger_joints])
        self._finger_adr = tuple(int(k) for k in self.finger_qpos)  # scalars: read every step
        self.finger_dof = np.array([model.jnt_dofadr[model.joint(n).id] for n in finger_joints])
        ranges = np.array([model.jnt_range[model.joint(n).id] for n in arm_joints])
        self.limits = JointLimits(self.arm.joints, ranges[:, 0], ranges[:, 1])
        self.joint_names = [*self.arm.joints, *self.gripper.finger_joints]
        self.tcp_site = model.site(self.arm.tcp_site).id
        self._configure_finger_servo()

    def _configure_finger_servo(self) -> None:
        """Make the hand's actuator a force-limited servo on the opening: ctrl is the opening's set-point,
        the force at most the gripper's max_force (the model's own servo squeezed a 5 cm cube with 1 N)."""
        model, actuator = self.model, self.arm_count
        # Actuator length per metre of opening (0.5 for the Panda's tendon); by virtual work a tendon
        # force F squeezes an object with F * ratio.
        self._finger_ratio = float(self.data.actuator_length[actuator] / self.gripper_width())
        if not self._finger_ratio > 0:
            raise InvalidArgumentError("the gripper actuator does not open the fingers (length ratio <= 0)")
        damping = FINGER_DAMPING * min(1.0, TUNED_TIMESTEP / model.opt.timestep)
        model.actuator_gainprm[actuator, :3] = [FINGER_STIFFNESS * self._finger_ratio, 0.0, 0.0]
        model.actuator_biasprm[actuator, :3] = [0.0, -FINGER_STIFFNESS, -damping]
        reach = self._full_offset(self.gripper.max_force)
        model.actuator_ctrlrange[actuator] = [-reach, self.gripper.max_width + reach]
        limit = self.gripper.max_force / self._finger_ratio
        model.actuator_forcerange[actuator] = [-limit, limit]
        model.actuator_forcelimited[actuator] = 1
        for geom in set().union(*self._finger_geoms):
            model.geom_priority[geom] = 1
            model.geom_solref[geom] = FINGER_SOLREF
            model.geom_solimp[geom] = FINGER_SOLIMP

    def _full_offset(self, force: float) -> float:
        """Set-point offset past the opening (m) at which the servo squeezes with ``force`` N."""
        return force / (FINGER_STIFFNESS * self._finger_ratio**2)

    @property
    def arm_count(self) -> int:
        return len(self.arm.joints)

    # -- stepping and control --------------------------------------------------------------------
    @property
    def time(self) -> float:
        return float(self.data.time)

    def step(self, count: int = 1) -> None:
        for _ in range(count):
            if self.trajectory is not None:
                self.data.ctrl[: self.arm_count][self.trajectory.indices] = self.trajectory.target(self.time)
            if self._fingers is not None:
                width = sum(float(self.data.qpos[k]) for k in self._finger_adr)
                self.data.ctrl[self.arm_count] = self._fingers.setpoint(self.time, width)
                if self._fingers.done:  # at the target, nothing in the way: the set-point stays
                    self._fingers = None
            mujoco.mj_step(self.model, self.data)
            if self.time >= self._next_score:
                self._next_score = self.time + SCORER_PERIOD
                self.task.on_step(self)
                for name, held in self.task.check(self).items():
                    self.reached[name] = self.reached[name] or held

    def step_for(self, seconds: float) -> None:
        self.step(max(1, round(seconds / self.model.opt.timestep)))

    def arm_positions(self) -> np.ndarray:
        return self.data.qpos[self.arm_qpos].copy()

    def start_trajectory(self, trajectory: Trajectory) -> None:
        trajectory.start = self.data.ctrl[: self.arm_count][trajectory.indices].copy()
        trajectory.start_time = self.time
        self.trajectory = trajectory

    def hold(self) -> None:
        """Stop any trajectory and hold the arm where it is now."""
        self.trajectory = None
        self.data.ctrl[: self.arm_count] = self.arm_positions()

    def set_arm(self, positions: np.ndarray) -> None:
        """Teleport the arm (tests, resets): positions and targets both."""
        self.trajectory = None
        self.data.qpos[self.arm_qpos] = positions
        self.data.qvel[self.arm_dof] = 0
        self.data.ctrl[: self.arm_count] = positions
        mujoco.mj_forward(self.model, self.data)

    def set_gripper(self, width: float, force: float | None = None) -> float:
        """Start moving the fingers to opening ``width`` (m) at the gripper's speed; whatever stops them
        is squeezed with ``force`` N (None or <= 0: ``grasp_force``; at most the gripper's max_force).
        Returns the force used."""
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
        """The force (N) the fingers squeeze with now; negative while pushing outwards."""
        return float(-self.data.actuator_force[self.arm_count] * self._finger_ratio)

    def joint_state(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        qpos = np.concatenate([self.data.qpos[self.arm_qpos], self.data.qpos[self.finger_qpos]])
        dofs = np.concatenate([self.arm_dof, self.finger_dof])
        return self.joint_names, qpos, self.data.qvel[dofs].copy(), self.data.qfrc_actuator[dofs].copy()

    def tcp_pose(self) -> np.ndarray:
        pose = np.eye(4)
        pose[:3, :3] = self.data.site_xmat[self.tcp_site].reshape(3, 3)
        pose[:3, 3] = self.data.site_xpos[self.tcp_site]
        return pose

    # -- object queries (used by the task scorers) ------------------------------------------------
    def body_id(self, label: str) -> int:
        if label not in self._bodies:
            raise NotFoundError(f"no object {label!r} in the scene; objects: {', '.join(self._bodies)}")
        return self._bodies[label]

    def position(self, label: str) -> np.ndarray:
        return self.data.xpos[self.body_id(label)].copy()

    def named_sites(self) -> dict[str, np.ndarray]:
        """Ground-truth keypoints in the base frame: each object's origin under its label, then the
        scene's named sites ("mug/handle"); the robot's own sites are left out."""
        sites = {label: self.position(label) for label in self._bodies}
        for site in range(self.model.nsite):
            name = self.model.site(site).name
            if name and self.model.site_bodyid[site] not in self.robot_bodies:
                sites[name] = self.data.site_xpos[site].copy()
        return sites

    def rotation(self, label: str) -> np.ndarray:
        return self.data.xmat[self.body_id(label)].reshape(3, 3).copy()

    def set_object_pose(self, label: str, position: np.ndarray, quat: np.ndarray | None = None) -> None:
        """Teleport a free object (tests): position and (w, x, y, z) orientation, velocity zeroed."""
        body = self.body_id(label)
        joint = self.model.body_jntadr[body]
        if joint < 0 or self.model.jnt_type[joint] != mujoco.mjtJoint.mjJNT_FREE:
            raise InvalidArgumentError(f"{label!r} is fixed to the world; only free objects can be moved")
        address, dof = self.model.jnt_qposadr[joint], self.model.jnt_dofadr[joint]
        self.data.qpos[address : address + 3] = position
        if quat is not None:
            self.data.qpos[address + 3 : address + 7] = quat
        self.data.qvel[dof : dof + 6] = 0
        mujoco.mj_forward(self.model, self.data)

    def height_above_table(self, label: str) -> float:
        """How far the object is above where it rested after the reset."""
        return float(self.position(label)[2] - self._rest_height.get(label, 0.0))

    def horizontal_distance(self, a: str, b: str) -> float:
        return float(np.linalg.norm(self.position(a)[:2] - self.position(b)[:2]))

    def inside_container(self, label: str, container: str, radius: float, height: float) -> bool:
        relative = self.position(label) - self.position(container)
        return bool(np.linalg.norm(relative[:2]) < radius and -0.01 < relative[2] < height)

    def speed(self, label: str) -> float:
        velocity = np.zeros(6)
        mujoco.mj_objectVelocity(
            self.model, self.data, mujoco.mjtObj.mjOBJ_BODY, self.body_id(label), velocity, 0
        )
        return float(np.linalg.norm(velocity[3:]))

    def resting(self, label: str) -> bool:
        return self.speed(label) < 0.03

    def touching(self, label: str, geoms: set[int]) -> bool:
        mine = self._object_geoms[label]
        for contact in self.data.contact[: self.data.ncon]:
            pair = {int(contact.geom1), int(contact.geom2)}
            if pair & mine and pair & geoms:
                return True
        return False

    def geoms_of(self, label: str) -> set[int]:
        """Geom ids of a task object."""
        self.body_id(label)
        return self._object_geoms[label]

    def grasped(self, label: str) -> bool:
        """Both fingers touch the object (and it is not simply lying between open fingers)."""
        self.body_id(label)
        return all(self.touching(label, fingers) for fingers in self._finger_geoms)

    # -- scoring and rendering --------------------------------------------------------------------
    def progress(self) -> tuple[float, list[StageReport]]:
        score = float(self.task.progress(self.reached))
        return score, [StageReport(s.name, s.points, self.reached[s.name]) for s in self.task.stages]

    def render_cameras(self) -> Cameras:
        if self.cameras is None:
            self.cameras = Cameras(self.model, self.width, self.height, self.camera_names)
        return self.cameras

    def segmentation(self, camera: str) -> np.ndarray:
        """(H, W) int32 instance ids of ``camera``'s view; labels in ``instance_labels``."""
        return self.render_cameras().segmentation(self.data, camera, self.geom_instance, self.flex_instance)

    def close(self) -> None:
        if self.cameras is not None:
            self.cameras.close()
            self.cameras = None
