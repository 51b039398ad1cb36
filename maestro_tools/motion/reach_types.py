"""The values of whole-body reach (``whole_body``): a reach target (a TCP position and approach axis in
the map), an arm solution, and a plan (base pose, arm, body posture)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.motion.base_geometry import BasePose
from maestro_tools.robots.body_posture import BodyPosture

STAND = BodyPosture()


@dataclass(frozen=True)
class ReachTarget:
    """A grasp in the map: the TCP's position and its approach axis (the gripper's +z; (0, 0, -1) is
    top-down). Rotation about the approach axis is left to the solver."""

    position: tuple[float, float, float]
    approach: tuple[float, float, float] = (0.0, 0.0, -1.0)

    def __post_init__(self) -> None:
        p, a = np.asarray(self.position, dtype=float), np.asarray(self.approach, dtype=float)
        if p.shape != (3,) or a.shape != (3,) or not (np.isfinite(p).all() and np.isfinite(a).all()):
            raise InvalidArgumentError("a reach target needs a finite position (x, y, z) and approach axis")
        if np.linalg.norm(a) < 1e-6:
            raise InvalidArgumentError("the approach axis must not be zero; (0, 0, -1) is top-down")
        object.__setattr__(self, "approach", tuple(float(v) for v in a / np.linalg.norm(a)))

    @classmethod
    def tilted(cls, position: Sequence[float], heading: float, tilt: float) -> ReachTarget:
        """Approach ``tilt`` rad from vertical, moving along ``heading`` (0: top-down, pi/4: 45 deg)."""
        h = math.sin(tilt)
        return cls(tuple(position), (h * math.cos(heading), h * math.sin(heading), -math.cos(tilt)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class ArmSolution:
    q: np.ndarray  # arm joint positions (rad), in the profile's order
    position_error: float  # m
    angle_error: float  # rad between the TCP's approach axis and the target's
    seconds: float


@dataclass(frozen=True)
class WholeBodyPlan:
    base: BasePose
    arm: ArmSolution
    comfort: float  # the arm joint nearest its limit: its distance to it over its range (0 .. 0.5)
    clearance: float  # m between the base's footprint and the nearest keep-out box
    posture: BodyPosture = STAND  # the body posture to command before the arm moves (the stand: none)
