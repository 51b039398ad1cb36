"""The Franka tabletop scene as a MuJoCo MjSpec: table, Panda with hand, cameras, and labelled objects.

The world frame is the robot base frame: the Panda's base sits at the origin on the table top (z = 0),
so object coordinates read directly as base-frame coordinates. Every geom a task adds is named
``<slug>/<k>`` and mapped to a human label ("tennis ball"), which is what segmentation and the
``sim`` detector report.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import mujoco
import numpy as np

from maestro_tools.common.surfaces import SupportSurface
from maestro_tools.robots import get_robot
from maestro_tools.robots.profile import RobotProfile

TABLE_TOP = 0.0
ROBOT = "franka"  # the tabletop cell's robot
TABLE = SupportSurface("table", (0.3, 0.0, TABLE_TOP - 0.375), (0.65, 0.7, 0.375))
FLOOR = SupportSurface("floor", (0.0, 0.0, -0.8), (3.0, 3.0, 0.05))
CELL_SURFACES = (TABLE, FLOOR)  # what config/franka/params.yaml declares as support_surfaces
TUNED_TIMESTEP = 0.002  # s: the robot models' servo damping is tuned for 500 Hz physics


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def look_at(position: Sequence[float], target: Sequence[float]) -> list[float]:
    """MuJoCo camera ``xyaxes`` for a camera at ``position`` looking at ``target`` with z up."""
    forward = np.asarray(target, float) - np.asarray(position, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return [*right.tolist(), *up.tolist()]


def quat_z(angle: float) -> list[float]:
    return [float(np.cos(angle / 2)), 0.0, 0.0, float(np.sin(angle / 2))]


class SceneBuilder:
    """Builds the tabletop MjSpec; tasks add objects through the helpers, which label every geom."""

    def __init__(
        self, width: int = 640, height: int = 480, timestep: float = 0.002, robot: str = ROBOT
    ) -> None:
        self.profile: RobotProfile = get_robot(robot)
        # The cell is built around the robot's own model: its base at the origin, on the table top.
        self.spec = self.profile.build_mjcf()
        self.labels: dict[str, str] = {}  # geom name -> label
        self.flex_labels: dict[str, str] = {}  # flex name -> label (deformables)
        self.body_names: dict[str, str] = {}  # label -> body whose pose is the object's, if not slug(label)
        self._counts: dict[str, int] = {}
        spec = self.spec
        spec.modelname = "maestro_franka_tabletop"
        spec.compiler.degree = False
        spec.option.timestep = timestep
        spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
        spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
        spec.option.impratio = 10
        if timestep > TUNED_TIMESTEP:
            # Keep kd * dt as tuned: past its bound a servo at its force limit chatters (franka.ARM_DAMPING).
            for actuator in spec.actuators:
                actuator.biasprm[2] *= TUNED_TIMESTEP / timestep
        spec.visual.global_.offwidth = max(width, 640)
        spec.visual.global_.offheight = max(height, 480)
        spec.visual.quality.shadowsize = 0
        spec.visual.quality.offsamples = 0  # no MSAA: halves the colour render time on a CPU
        world = spec.worldbody
        world.add_light(pos=[0.4, 0.0, 2.0], dir=[0, 0, -1], diffuse=[0.7, 0.7, 0.7], castshadow=False)
        world.add_light(pos=[1.5, -1.0, 1.5], dir=[-1, 0.6, -1], diffuse=[0.35, 0.35, 0.35], castshadow=False)
        spec.add_texture(
            name="floor",
            type=mujoco.mjtTexture.mjTEXTURE_2D,
            builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
            rgb1=[0.22, 0.24, 0.27],
            rgb2=[0.18, 0.2, 0.23],
            width=256,
            height=256,
        )
        spec.add_material(name="floor", textures=["", "floor"], texrepeat=[6, 6])
        world.add_geom(
            name="floor",
            type=mujoco.mjtGeom.mjGEOM_PLANE,
            size=[3, 3, 0.1],
            pos=[0, 0, FLOOR.top],
            material="floor",
        )
        table = world.add_body(name="table", pos=list(TABLE.center))
        self.geom(
            table,
            "table",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=list(TABLE.half_size),
            rgba=[0.72, 0.6, 0.45, 1],
        )
        self._add_robot()
        # Scene camera: over the robot's right shoulder, looking across the workspace, so that fronts
        # that face the robot (the cabinet door, the whiteboard's writing) face the camera too.
        eye, target = [-0.05, -0.8, 1.0], [0.55, 0.03, 0.0]
        world.add_camera(name="scene", pos=eye, xyaxes=look_at(eye, target), fovy=48)

    def _add_robot(self) -> None:
        """The home key of the robot (whose model the spec started from)."""
        arm, gripper = self.profile.arm, self.profile.gripper
        assert arm is not None and gripper is not None  # the tabletop cell needs an arm with a gripper
        fingers = len(gripper.finger_joints)
        key = self.spec.add_key(name="home")
        key.qpos = [*arm.home, *([gripper.max_width / fingers] * fingers)]
        key.ctrl = [*arm.home, gripper.max_width]

    # -- object helpers --------------------------------------------------------------------------
    def geom(self, body: mujoco.MjsBody, label: str, **kwargs: object) -> mujoco.MjsGeom:
        """Add a geom to ``body`` labelled ``label`` (a name ``<slug>/<k>`` is assigned)."""
        key = slug(label)
        index = self._counts.get(key, 0)
        self._counts[key] = index + 1
        name = f"{key}/{index}"
        self.labels[name] = label
        return body.add_geom(name=name, **kwargs)

    def free_body(self, label: str, pos: Sequence[float], yaw: float = 0.0) -> mujoco.MjsBody:
        body = self.spec.worldbody.add_body(name=slug(label), pos=list(pos), quat=quat_z(yaw))
        body.add_freejoint(name=f"{slug(label)}/free")
        return body

    def fixed_body(self, label: str, pos: Sequence[float], yaw: float = 0.0) -> mujoco.MjsBody:
        return self.spec.worldbody.add_body(name=slug(label), pos=list(pos), quat=quat_z(yaw))

    def solid(
        self,
        label: str,
        pos: Sequence[float],
        geom_type: mujoco.mjtGeom,
        size: Sequence[float],
        rgba: Sequence[float],
        mass: float,
        yaw: float = 0.0,
    ) -> mujoco.MjsBody:
        """A free rigid object of one grippy geom (friction 1.2, elliptic-cone contacts)."""
        body = self.free_body(label, pos, yaw)
        self.geom(
            body,
            label,
            type=geom_type,
            size=list(size),
            rgba=list(rgba),
            mass=mass,
            friction=[1.2, 0.01, 0.001],
            condim=4,
        )
        return body

    def box(
        self,
        label: str,
        pos: Sequence[float],
        half: Sequence[float],
        rgba: Sequence[float],
        mass: float,
        yaw: float = 0.0,
    ) -> mujoco.MjsBody:
        return self.solid(label, pos, mujoco.mjtGeom.mjGEOM_BOX, half, rgba, mass, yaw)

    def sphere(
        self, label: str, pos: Sequence[float], radius: float, rgba: Sequence[float], mass: float
    ) -> mujoco.MjsBody:
        return self.solid(label, pos, mujoco.mjtGeom.mjGEOM_SPHERE, [radius, 0, 0], rgba, mass)

    def cylinder(
        self,
        label: str,
        pos: Sequence[float],
        radius: float,
        half_height: float,
        rgba: Sequence[float],
        mass: float,
    ) -> mujoco.MjsBody:
        return self.solid(label, pos, mujoco.mjtGeom.mjGEOM_CYLINDER, [radius, half_height, 0], rgba, mass)

    def bowl(
        self,
        label: str,
        pos: Sequence[float],
        radius: float,
        height: float,
        rgba: Sequence[float],
        segments: int = 20,
    ) -> mujoco.MjsBody:
        """An open bowl: a flat bottom and a ring of outward-leaning wall plates (concave, collidable)."""
        body = self.free_body(label, pos)
        self.geom(
            body,
            label,
            type=mujoco.mjtGeom.mjGEOM_CYLINDER,
            size=[radius * 0.75, 0.004, 0],
            pos=[0, 0, 0.004],
            rgba=list(rgba),
            mass=0.15,
        )
        wall_half = radius * np.tan(np.pi / segments) * 1.08
        for i in range(segments):
            angle = 2 * np.pi * i / segments
            lean = 0.25  # radians; the wall's top leans outward
            quat = np.zeros(4)
            mujoco.mju_euler2Quat(quat, [angle, lean, 0.0], "zyx")
            mid = radius * 0.9 + np.sin(lean) * height / 2
            self.geom(
                body,
                label,
                type=mujoco.mjtGeom.mjGEOM_BOX,
                size=[0.003, wall_half, height / 2],
                pos=[mid * np.cos(angle), mid * np.sin(angle), height / 2],
                quat=quat.tolist(),
                rgba=list(rgba),
                mass=0.01,
            )
        return body

    def compile(self) -> mujoco.MjModel:
        return self.spec.compile()
