"""A robot's kinematic model for planning: its robot-only MJCF plus the declared support surfaces.

Modules plan on this, never on the simulator's scene: the objects on a table come from perception,
the table itself from the ``support_surfaces`` parameter (``common.surfaces``).
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

from maestro_tools.common.surfaces import SupportSurface
from maestro_tools.robots.profile import ArmSpec, GripperSpec, RobotProfile

SUPPORT_PREFIX = "support/"


class RobotModel:
    """The compiled robot-only model with index helpers for the arm, the fingers and the supports."""

    def __init__(self, profile: RobotProfile, surfaces: Sequence[SupportSurface] = ()) -> None:
        profile.require("arm")
        self.profile = profile
        self.arm: ArmSpec = profile.arm  # type: ignore[assignment]
        self.gripper: GripperSpec | None = profile.gripper
        spec = profile.build_mjcf()
        for surface in surfaces:
            spec.worldbody.add_geom(
                name=f"{SUPPORT_PREFIX}{surface.name}",
                type=mujoco.mjtGeom.mjGEOM_BOX,
                pos=list(surface.center),
                size=list(surface.half_size),
                rgba=[0.6, 0.6, 0.6, 0.3],
            )
        self.surfaces = tuple(surfaces)
        self.model = spec.compile()
        # The configuration the arm moves in: qpos0 with a mobile base's posture (its stand). Not written
        # into qpos0 itself, which is the joints' reference: that would move the kinematics.
        self.rest_qpos = self.model.qpos0.copy()
        for joint, value in profile.base.posture if profile.base else ():
            self.rest_qpos[self.model.jnt_qposadr[self.model.joint(joint).id]] = value
        joints = [self.model.joint(name).id for name in self.arm.mjcf_joints]
        self.qpos_index = self.model.jnt_qposadr[joints].copy()
        self.lower = self.model.jnt_range[joints, 0].copy()
        self.upper = self.model.jnt_range[joints, 1].copy()
        fingers = self.gripper.mjcf_finger_joints if self.gripper else ()
        self.finger_qpos = self.model.jnt_qposadr[[self.model.joint(n).id for n in fingers]].copy()
        self.support_geoms = [self.model.geom(f"{SUPPORT_PREFIX}{s.name}").id for s in self.surfaces]
        # What the arm's IK must not move: a mobile base's floating joint and its posture (legs, wheels).
        own = [self.model.joint(n).id for n in (*self.arm.mjcf_joints, *fingers)]
        moving = {int(self.model.jnt_dofadr[j]) for j in own}
        self.frozen_dofs = [d for d in range(self.model.nv) if d not in moving]
        # Every body but the world is the robot's (the supports are world geoms).
        self.robot_bodies = frozenset(range(1, self.model.nbody))

    @property
    def home(self) -> np.ndarray:
        return np.array(self.arm.home, dtype=np.float64)

    @property
    def max_width(self) -> float:
        return self.gripper.max_width if self.gripper else 0.0

    def set_fingers(self, qpos: np.ndarray, width: float) -> None:
        """Write a gripper opening (m) into a full ``qpos`` (each finger moves half of it)."""
        if len(self.finger_qpos):
            qpos[self.finger_qpos] = np.clip(width, 0.0, self.max_width) / len(self.finger_qpos)

    def geom_owner(self, geom: int) -> str:
        """A readable name for what a geom is: a support surface or a robot link."""
        name = self.model.geom(geom).name
        if name.startswith(SUPPORT_PREFIX):
            return f"the {name[len(SUPPORT_PREFIX) :]}"
        return f"the robot's {self.profile.ros_names(self.model.body(self.model.geom_bodyid[geom]).name)}"
