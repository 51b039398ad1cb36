"""One LIBERO environment behind plain methods: reset to a suite/task/initial state, step the operational-
space controller, read joints and the TCP, render colour, depth (metres) and instance segmentation, and
score the BDDL goal. No ROS here. MuJoCo's GL context belongs to the thread that made it: create, step
and render from one thread (FINDINGS: other threads render garbage, silently).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maestro_tools.sim.libero.suites import SETTLE_STEPS, LiberoTaskError, TaskRef, bddl_language

CONTROL_DT = 0.05  # s per step: LIBERO's controller runs at 20 Hz
POS_SCALE, ROT_SCALE = 0.05, 0.5  # m and rad per unit of an OSC delta action
ARM_JOINTS = tuple(f"robot0_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("gripper0_finger_joint1", "gripper0_finger_joint2")
TCP_SITE, BASE_BODY = "gripper0_grip_site", "robot0_base"
CAMERAS = {"scene": "agentview", "wrist": "robot0_eye_in_hand"}  # profile name -> LIBERO camera
# Robot and mount instances: the background of a segmentation (the ``sim`` detector wants objects).
_ROBOT_INSTANCES = ("Panda0", "PandaGripper0", "RethinkMount0", "MountedPanda0", "OnTheGroundPanda0")
_MJ_TO_OPTICAL = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class Stage:
    name: str
    points: float
    reached: bool


def inner_pixels(ids: np.ndarray) -> np.ndarray:
    """``ids`` with each instance's outline (a pixel whose 4 neighbours are not all its instance) set to 0.

    On the outlines LIBERO's renderer (mujoco 2.3.7) gives ids and depth that disagree:
    lifted, libero_object/0's outline points spread 36 cm along the camera ray, where the inner points of
    the same objects span 6 cm, and stretched every detected box. Without them boxes are tight.
    """
    inner = ids.copy()
    same = np.ones(ids.shape, dtype=bool)
    same[1:] &= ids[1:] == ids[:-1]
    same[:-1] &= ids[:-1] == ids[1:]
    same[:, 1:] &= ids[:, 1:] == ids[:, :-1]
    same[:, :-1] &= ids[:, :-1] == ids[:, 1:]
    inner[~same] = 0
    return inner


def _pose(pos: np.ndarray, rot: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = np.asarray(rot).reshape(3, 3), pos
    return matrix


def label_of(instance: str) -> str:
    """``alphabet_soup_1`` -> ``alphabet soup``; ``flat_stove_1`` -> ``flat stove``."""
    head, _, tail = instance.rpartition("_")
    return (head if tail.isdigit() and head else instance).replace("_", " ")


def rotation_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Axis-angle (world frame) that turns ``current`` into ``target`` (3x3 rotations)."""
    delta = target @ current.T
    angle = math.acos(float(np.clip((np.trace(delta) - 1.0) / 2.0, -1.0, 1.0)))
    if angle < 1e-9:
        return np.zeros(3)
    axis = np.array([delta[2, 1] - delta[1, 2], delta[0, 2] - delta[2, 0], delta[1, 0] - delta[0, 1]])
    norm = np.linalg.norm(axis)
    if norm < 1e-9:  # angle near pi: the axis from the symmetric part
        axis = np.sqrt(np.clip((np.diag(delta) + 1.0) / 2.0, 0.0, 1.0))
        norm = np.linalg.norm(axis)
    return axis / norm * angle


def delta_action(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """The OSC delta (6 values in [-1, 1]) that moves the TCP pose ``current`` toward ``target`` (4x4)."""
    dpos = (target[:3, 3] - current[:3, 3]) / POS_SCALE
    drot = rotation_error(target[:3, :3], current[:3, :3]) / ROT_SCALE
    return np.clip(np.concatenate([dpos, drot]), -1.0, 1.0)


class LiberoWorld:
    """A LIBERO task scene; every method must run in the thread that constructed it."""

    def __init__(self, ref: TaskRef, width: int = 256, height: int = 256) -> None:
        os.environ.setdefault("MUJOCO_GL", "egl")
        from libero.libero import benchmark  # the reference stack: mujoco 2.3.7, numpy 1.26

        self._benchmark = benchmark
        self.width, self.height = width, height
        self.env = None
        self.ref: TaskRef | None = None
        self.instruction = ""
        self.time = 0.0
        self.gripper_command = -1.0  # -1 open, +1 close (LIBERO's gripper action)
        self.reset(ref)

    # -- scene -----------------------------------------------------------------------------------
    def reset(self, ref: TaskRef) -> None:
        """Load ``ref``'s task (a new environment when the BDDL file changes), set its initial state and
        let it settle for the protocol's no-op steps."""
        from libero.libero import get_libero_path
        from libero.libero.envs import OffScreenRenderEnv

        suites = self._benchmark.get_benchmark_dict()
        if ref.benchmark_suite not in suites:
            raise LiberoTaskError(f"suite {ref.benchmark_suite!r} is not in this LIBERO install")
        suite = suites[ref.benchmark_suite]()
        task = suite.get_task(ref.index)
        states = suite.get_task_init_states(ref.index)
        if ref.init >= len(states):
            raise LiberoTaskError(f"{ref.name} has {len(states)} initial states; got {ref.init}")
        bddl = str(Path(get_libero_path("bddl_files")) / task.problem_folder / task.bddl_file)
        if self.env is None or getattr(self, "_bddl", None) != bddl:
            if self.env is not None:
                self.env.close()
            # Camera observations off: rendering dominates the step cost; cameras render on demand.
            # ignore_done: the node steps the controller between goals too, so LIBERO's 1000-step horizon
            # (50 s) would end the episode under a running agent ("executing action in terminated
            # episode"). A trial is not held to LIBERO's step budget (the README says so).
            self.env = OffScreenRenderEnv(
                bddl_file_name=bddl,
                camera_heights=self.height,
                camera_widths=self.width,
                use_camera_obs=False,
                ignore_done=True,
            )
            self._bddl = bddl
        self.env.seed(0)
        self.env.reset()
        self.env.set_init_state(states[ref.init])
        # The sim clock runs on across resets (as the Franka sim's): /clock never jumps back.
        self.ref, self.instruction = ref, bddl_language(Path(bddl).read_text()) or task.language
        self.gripper_command = -1.0
        self._index_model()
        for _ in range(SETTLE_STEPS):
            self.step(np.zeros(6))

    def _index_model(self) -> None:
        sim = self.env.sim
        self.model, self.data = sim.model, sim.data
        self._qpos = [self.model.get_joint_qpos_addr(j) for j in ARM_JOINTS + FINGER_JOINTS]
        self._qvel = [self.model.get_joint_qvel_addr(j) for j in ARM_JOINTS + FINGER_JOINTS]
        self._tcp = self.model.site_name2id(TCP_SITE)
        instances = self.env.env.model.geom_ids_to_instances
        objects = sorted({name for name in instances.values() if name not in _ROBOT_INSTANCES})
        self.instance_names = ["background", *objects]  # instance id = index; 0 = background
        ids = {name: k for k, name in enumerate(self.instance_names)}
        self._geom_instance = np.zeros(self.model.ngeom + 1, dtype=np.int32)
        for geom, name in instances.items():
            self._geom_instance[geom] = ids.get(name, 0)
        self._scratch = None  # FK data, made on first use

    @property
    def objects(self) -> list[str]:
        return [label_of(n) for n in self.instance_names[1:]]

    # -- stepping --------------------------------------------------------------------------------
    def step(self, arm: np.ndarray, gripper: float | None = None) -> None:
        if gripper is not None:
            self.gripper_command = float(np.clip(gripper, -1.0, 1.0))
        self.env.step(np.concatenate([np.clip(arm, -1.0, 1.0), [self.gripper_command]]))
        self.time += CONTROL_DT

    def set_posture(self, arm: np.ndarray) -> None:
        """Set the arm posture (7 joints) that LIBERO's OSC holds in its null space. LIBERO keeps its start
        posture there (robosuite's default, restored by every reset); a joint trajectory moves it along,
        so that the redundant joint follows the trajectory too while the TCP tracks its pose."""
        self.env.env.robots[0].controller.initial_joint = np.array(arm, dtype=np.float64)

    # -- state -----------------------------------------------------------------------------------
    def joints(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arm positions (7), their velocities (7) and the two finger positions (each >= 0, m)."""
        qpos, qvel = self.data.qpos, self.data.qvel
        arm = np.array([qpos[a] for a in self._qpos[:7]])
        velocity = np.array([qvel[a] for a in self._qvel[:7]])
        fingers = np.array([qpos[self._qpos[7]], -qpos[self._qpos[8]]])
        return arm, velocity, fingers

    def gripper_width(self) -> float:
        return float(np.sum(self.joints()[2]))

    def body_pose(self, body: str) -> np.ndarray:
        index = self.model.body_name2id(body)
        return _pose(self.data.xpos[index], self.data.xmat[index])

    def tcp_pose(self) -> np.ndarray:
        return _pose(self.data.site_xpos[self._tcp], self.data.site_xmat[self._tcp])

    def base_pose(self) -> np.ndarray:
        return self.body_pose(BASE_BODY)

    def fk_tcp(self, arm: np.ndarray) -> np.ndarray:
        """The TCP pose (world) with the arm at ``arm``, from LIBERO's own model."""
        import mujoco

        if self._scratch is None:
            self._scratch = mujoco.MjData(self.model._model)
        scratch = self._scratch
        scratch.qpos[:] = self.data.qpos
        for address, value in zip(self._qpos[:7], arm, strict=True):
            scratch.qpos[address] = value
        mujoco.mj_kinematics(self.model._model, scratch)
        return _pose(scratch.site_xpos[self._tcp], scratch.site_xmat[self._tcp])

    # -- cameras ---------------------------------------------------------------------------------
    def _camera(self, camera: str) -> str:
        if camera not in CAMERAS:
            raise LiberoTaskError(f"unknown camera {camera!r}; valid: {', '.join(CAMERAS)}")
        return CAMERAS[camera]

    def intrinsics(self, camera: str) -> np.ndarray:
        fovy = math.radians(float(self.model.cam_fovy[self.model.camera_name2id(self._camera(camera))]))
        f = self.height / (2.0 * math.tan(fovy / 2.0))
        return np.array([[f, 0.0, self.width / 2.0], [0.0, f, self.height / 2.0], [0.0, 0.0, 1.0]])

    def camera_pose(self, camera: str) -> np.ndarray:
        """The camera's REP-103 optical frame in the world (4x4)."""
        index = self.model.camera_name2id(self._camera(camera))
        rot = np.asarray(self.data.cam_xmat[index]).reshape(3, 3) @ _MJ_TO_OPTICAL
        return _pose(self.data.cam_xpos[index], rot)

    def render(self, camera: str) -> tuple[np.ndarray, np.ndarray]:
        """Colour (H, W, 3 uint8) and depth (H, W float32, metres along the optical axis), upright."""
        rgb, z = self.env.sim.render(self.width, self.height, camera_name=self._camera(camera), depth=True)
        extent = float(self.model.stat.extent)
        near, far = self.model.vis.map.znear * extent, self.model.vis.map.zfar * extent
        depth = near / (1.0 - z * (1.0 - near / far))
        return np.ascontiguousarray(rgb[::-1]), np.ascontiguousarray(depth[::-1].astype(np.float32))

    def segmentation(self, camera: str) -> np.ndarray:
        """Instance ids (H, W int32; ``instance_names`` index, 0 = background, the robot included)."""
        seg = self.env.sim.render(
            self.width, self.height, camera_name=self._camera(camera), segmentation=True
        )
        kind, geom = seg[::-1, :, 0], seg[::-1, :, 1]
        ids = self._geom_instance[np.clip(geom, 0, self.model.ngeom)]
        return inner_pixels(np.where((kind == 5) & (geom >= 0), ids, 0).astype(np.int32))  # 5: mjOBJ_GEOM

    # -- the goal --------------------------------------------------------------------------------
    def progress(self) -> tuple[float, list[Stage]]:
        """100 when LIBERO's success check passes; otherwise each BDDL goal predicate that holds earns
        its share of 100 (most LIBERO goals are one or two predicates)."""
        env = self.env.env
        goals = list(env.parsed_problem["goal_state"])
        stages = [
            Stage(" ".join(str(t) for t in goal), 100.0 / max(len(goals), 1), bool(env._eval_predicate(goal)))
            for goal in goals
        ]
        if bool(env._check_success()):
            return 100.0, [Stage(s.name, s.points, True) for s in stages]
        return float(sum(s.points for s in stages if s.reached)), stages

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None
