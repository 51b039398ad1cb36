"""A legged, wheeled base's body posture: its height (relative to the stand) and pitch, realised by planar
IK of each leg with the wheel axles kept where the stand puts them on the floor.

Plain Python on any compiled model holding the robot (alone, in a world, or a planning model): the legs'
geometry is read from it at the stand (``BaseSpec.posture``). Each wheel's two nearest posture hinges
above it (thigh and calf, axes along the base's y) form a 2-link leg in the base's x-z plane; the joints
above them (the hips' abduction) keep their stand values. Pitch rotates the body about base_link's origin,
+ = nose down (REP-103: positive about y).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from maestro_tools.common.errors import InvalidArgumentError, OutOfLimitsError
from maestro_tools.robots.profile import BaseSpec, RobotProfile

HEIGHT_JOINT, PITCH_JOINT = "body_height", "body_pitch"  # the posture's virtual joints on the wire


@dataclass(frozen=True)
class BodyPosture:
    """The body's height (m from the stand; - = lower) and pitch (rad; + = nose down)."""

    height: float = 0.0
    pitch: float = 0.0

    def check(self, base: BaseSpec) -> BodyPosture:
        """This posture, or OutOfLimitsError naming the base's ranges."""
        if not (math.isfinite(self.height) and math.isfinite(self.pitch)):
            raise OutOfLimitsError(
                f"body posture must be finite; got height {self.height}, pitch {self.pitch}"
            )
        if not base.min_height_offset - 1e-9 <= self.height <= 1e-9:
            raise OutOfLimitsError(
                f"{HEIGHT_JOINT} = {self.height:.3f} m is out of range; valid: "
                f"{base.min_height_offset:.3f} .. 0 m (relative to the stand, - = lower)"
            )
        if abs(self.pitch) > base.max_pitch + 1e-9:
            raise OutOfLimitsError(
                f"{PITCH_JOINT} = {self.pitch:.3f} rad is out of range; valid: {-base.max_pitch:.3f} .. "
                f"{base.max_pitch:.3f} rad (+ = nose down)"
            )
        return self


@dataclass(frozen=True)
class _Leg:
    joints: tuple[int, int]  # posture index of the thigh and the calf
    hip: np.ndarray  # (x, z) of the thigh's axis in the base frame
    lengths: tuple[float, float]  # thigh, calf (to the axle) in the x-z plane
    stand: tuple[float, float]  # their angles (rad, about +y) in the base frame at the stand
    signs: tuple[float, float]  # +1 / -1: each joint's axis along the base's +y or -y
    axle: np.ndarray  # (x, z) of the axle in the base frame at the stand
    wheel_sign: float  # the wheel joint's axis along +y or -y


def _angle(vector: np.ndarray) -> float:
    """Angle (rad) of an (x, z) vector from straight down (-z); a rotation about +y adds to it."""
    return math.atan2(-vector[0], -vector[1])


class LegPosture:
    """Leg joint positions putting the body of ``profile``'s base at a ``BodyPosture`` in ``model``."""

    def __init__(self, model: mujoco.MjModel, profile: RobotProfile) -> None:
        if profile.base is None or not profile.base.posture:
            raise InvalidArgumentError(f"the robot {profile.name!r} has no legs (no base posture)")
        self.base, names = profile.base, [j for j, _ in profile.base.posture]
        self.stand = np.array([v for _, v in profile.base.posture])
        ids = [model.joint(n).id for n in names]
        self.lower, self.upper = model.jnt_range[ids].T.copy()
        limited = model.jnt_limited[ids].astype(bool)
        self.lower[~limited], self.upper[~limited] = -np.inf, np.inf
        data = mujoco.MjData(model)
        data.qpos[model.jnt_qposadr[ids]] = self.stand
        mujoco.mj_kinematics(model, data)
        body = next(
            b for b in range(model.nbody) if profile.ros_names(model.body(b).name) == profile.base_frame
        )
        rotation, origin = data.xmat[body].reshape(3, 3), data.xpos[body]

        def local(point: np.ndarray) -> np.ndarray:
            return (rotation.T @ (point - origin))[[0, 2]]

        self.legs: list[_Leg] = []
        for wheel in self.base.wheel_joints:
            joint = model.joint(wheel).id
            chain, b = [], int(model.jnt_bodyid[joint])
            while b > 0 and len(chain) < 2:  # up from the wheel: the calf's joint, then the thigh's
                chain += [k for k, i in enumerate(ids) if model.jnt_bodyid[i] == b]
                b = int(model.body_parentid[b])
            if len(chain) < 2:
                raise InvalidArgumentError(f"the wheel {wheel!r} hangs off fewer than two posture joints")
            calf, thigh = chain[0], chain[1]
            axes = [(rotation.T @ data.xaxis[ids[k]])[1] for k in (thigh, calf)]
            wheel_axis = (rotation.T @ data.xaxis[joint])[1]
            if min(abs(a) for a in (*axes, wheel_axis)) < 0.99:
                raise InvalidArgumentError(f"the leg of {wheel!r} does not bend about the base's y axis")
            hip, knee = local(data.xanchor[ids[thigh]]), local(data.xanchor[ids[calf]])
            axle = local(data.xpos[model.jnt_bodyid[joint]])
            self.legs.append(
                _Leg(
                    joints=(thigh, calf),
                    hip=hip,
                    lengths=(float(np.linalg.norm(knee - hip)), float(np.linalg.norm(axle - knee))),
                    stand=(_angle(knee - hip), _angle(axle - knee)),
                    signs=(math.copysign(1.0, axes[0]), math.copysign(1.0, axes[1])),
                    axle=axle,
                    wheel_sign=math.copysign(1.0, wheel_axis),
                )
            )

    def solve(self, posture: BodyPosture) -> np.ndarray:
        """The posture joints' positions (``BaseSpec.posture`` order) for ``posture``; OutOfLimitsError
        if a leg cannot reach its axle within its joint limits."""
        q = self.stand.copy()
        c, s = math.cos(posture.pitch), math.sin(posture.pitch)
        for leg in self.legs:
            x, z = leg.axle[0], leg.axle[1] - posture.height  # the axle, from the moved base's origin
            target = np.array([c * x - s * z, s * x + c * z]) - leg.hip  # ... in the pitched base frame
            a, b = leg.lengths
            d = float(np.linalg.norm(target))
            cosine = (d * d - a * a - b * b) / (2 * a * b)
            if not -1.0 <= cosine <= 1.0:
                raise OutOfLimitsError(f"a leg cannot reach its wheel at height {posture.height:.3f} m")
            bend = math.copysign(math.acos(cosine), leg.stand[1] - leg.stand[0])
            first = _angle(target) - math.atan2(b * math.sin(bend), a + b * math.cos(bend))
            thigh, calf = leg.joints
            q[thigh] = self.stand[thigh] + leg.signs[0] * (first - leg.stand[0])
            q[calf] = self.stand[calf] + leg.signs[1] * (bend - (leg.stand[1] - leg.stand[0]))
        bad = np.flatnonzero((q < self.lower) | (q > self.upper))
        if bad.size:
            names = [self.base.posture[k][0] for k in bad]
            raise OutOfLimitsError(
                f"the legs cannot hold height {posture.height:.3f} m, pitch {posture.pitch:.3f} rad: "
                f"{', '.join(names)} out of range"
            )
        return q

    def wheel_turn(self, posture: BodyPosture, q: np.ndarray) -> np.ndarray:
        """How far (rad) each wheel joint must turn, from the stand, so the tyre does not roll on the floor
        while the legs take ``q`` (the calf's turn in the world, undone)."""
        turns = []
        for leg in self.legs:
            thigh, calf = leg.joints
            world = (
                posture.pitch
                + leg.signs[0] * (q[thigh] - self.stand[thigh])
                + leg.signs[1] * (q[calf] - self.stand[calf])
            )
            turns.append(-leg.wheel_sign * world)
        return np.array(turns)
