"""Robot <-> policy: observations in a policy's format, action chunks as arm joint targets and gripper widths.

A ``PolicyFormat`` (registered by name) says what a policy reads: its image keys by role, image size,
joint and gripper keys, where the prompt goes, what its reply calls the actions. A ``RobotMapping``
joins a format with a robot profile (its ``VlaSpec``: which camera fills each role, whether the actions
are joint velocities or positions, the control rate). A new policy family is one ``register_format``;
a new robot is a ``VlaSpec`` in its profile.

Gripper values follow DROID: 0 = open, 1 = closed, in both the observation and the action column.

A policy that needs more than its format (the warp policy: object positions) lists the keys in its
metadata's ``requires``; ``observation(objects=...)`` adds ``OBJECTS_KEY`` only when given, so a policy
that did not ask never receives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np

from maestro_tools.common.errors import InvalidArgumentError, NoDataError
from maestro_tools.robots.profile import RobotProfile, VlaSpec
from maestro_tools.vla.errors import PolicyProtocolError

OBJECTS_KEY = "observation/object_positions"  # {label: float32 (3,) xyz in the base frame}


@dataclass(frozen=True)
class PolicyFormat:
    name: str
    images: Mapping[str, str]  # image role -> observation key (uint8 HxWx3 RGB)
    image_size: tuple[int, int]  # (height, width) the policy expects
    joint_key: str  # float32 (n_joints,)
    gripper_key: str  # float32 (1,): 0 open .. 1 closed
    prompt_key: str = "prompt"
    actions_key: str = "actions"  # (horizon, n_joints + 1) in the reply
    extra: Mapping[str, object] = field(default_factory=dict)  # constant entries sent with each observation

    def __post_init__(self) -> None:
        if not self.images or min(self.image_size) < 8:
            raise InvalidArgumentError(f"policy format {self.name!r}: needs image keys and a size >= 8 px")
        keys = [*self.images.values(), self.joint_key, self.gripper_key, self.prompt_key]
        if len(set(keys)) != len(keys):
            raise InvalidArgumentError(f"policy format {self.name!r}: duplicate observation keys {keys}")


_FORMATS: dict[str, PolicyFormat] = {}


def register_format(policy_format: PolicyFormat) -> PolicyFormat:
    if _FORMATS.get(policy_format.name, policy_format) != policy_format:
        raise InvalidArgumentError(f"a policy format named {policy_format.name!r} is registered already")
    _FORMATS[policy_format.name] = policy_format
    return policy_format


def policy_formats() -> tuple[str, ...]:
    return tuple(sorted(_FORMATS))


def get_format(name: str) -> PolicyFormat:
    try:
        return _FORMATS[name]
    except KeyError:
        raise InvalidArgumentError(
            f"unknown policy format {name!r}; valid: {', '.join(policy_formats())}"
        ) from None


# openpi's DROID policies (pi0-FAST-DROID, pi0.5-DROID): two 224x224 views, 7 joints and the gripper.
DROID = register_format(
    PolicyFormat(
        name="droid",
        images={"exterior": "observation/exterior_image_1_left", "wrist": "observation/wrist_image_left"},
        image_size=(224, 224),
        joint_key="observation/joint_position",
        gripper_key="observation/gripper_position",
    )
)


def resize_with_pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` (HxWx3 uint8) scaled to fit ``height`` x ``width`` keeping its aspect, centred on black."""
    if image.ndim != 3 or image.shape[2] < 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
        raise InvalidArgumentError(f"a policy image must be HxWx3 uint8, got {image.shape} {image.dtype}")
    rows, cols = image.shape[:2]
    scale = min(height / rows, width / cols)
    size = (max(1, min(width, round(cols * scale))), max(1, min(height, round(rows * scale))))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(np.ascontiguousarray(image[:, :, :3]), size, interpolation=interpolation)
    out = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - size[1]) // 2, (width - size[0]) // 2
    out[top : top + size[1], left : left + size[0]] = scaled
    return out


def object_positions(objects: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{label: float32 (3,)}; a position that is not three finite numbers is an InvalidArgumentError."""
    out = {}
    for label, position in objects.items():
        xyz = np.asarray(position, dtype=np.float64).reshape(-1)
        if xyz.shape != (3,) or not np.isfinite(xyz).all() or not str(label).strip():
            raise InvalidArgumentError(f"object {label!r}: expected a label and 3 finite numbers, got {xyz}")
        out[str(label)] = xyz.astype(np.float32)
    return out


@dataclass(frozen=True)
class Targets:
    """One stretch of a chunk at the control rate: arm joint targets and gripper widths per step."""

    joints: np.ndarray  # (steps, n_joints) rad, in the profile's joint order
    widths: np.ndarray  # (steps,) m of opening
    period: float  # s between steps
    commanded: np.ndarray  # (steps,) how far each step moves the arm (rad, largest joint): ~0 = idle policy

    @property
    def steps(self) -> int:
        return len(self.joints)


class RobotMapping:
    """One robot's observations for one policy format, and that policy's action chunks for the robot."""

    def __init__(
        self,
        profile: RobotProfile,
        spec: VlaSpec | None = None,
        limits: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        if profile.arm is None or profile.gripper is None:
            raise InvalidArgumentError(
                f"the robot {profile.name!r} needs an arm and a gripper to run a policy"
            )
        self.profile, self.spec = profile, spec or profile.vla or VlaSpec()
        self.format = get_format(self.spec.policy_format)
        self.n_joints = len(profile.arm.joints)
        self.max_width = profile.gripper.max_width
        self.max_velocity = profile.arm.max_joint_velocity
        self.period = 1.0 / self.spec.control_rate
        self.limits = (
            None if limits is None else tuple(np.asarray(v, dtype=float)[: self.n_joints] for v in limits)
        )
        given = dict(self.spec.cameras)
        defaults = {"exterior": profile.detection_camera, "wrist": profile.hand_camera}
        self.cameras: dict[str, str] = {}
        for role in self.format.images:
            camera = given.get(role) or defaults.get(role) or profile.detection_camera
            self.cameras[role] = profile.camera(camera).name
        unknown = sorted(set(given) - set(self.format.images))
        if unknown:
            raise InvalidArgumentError(
                f"camera roles {unknown} are not in the {self.format.name} format; valid: "
                f"{', '.join(self.format.images)}"
            )

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.cameras.values()))

    # -- observations -----------------------------------------------------------------------------
    def observation(
        self,
        images: Mapping[str, np.ndarray],
        joints: np.ndarray,
        width: float,
        prompt: str,
        objects: Mapping[str, np.ndarray] | None = None,
    ) -> dict[str, object]:
        """The policy's observation from camera images (by camera name), arm joints (rad), the opening (m)
        and, when given, object positions ({label: xyz} in the base frame) under ``OBJECTS_KEY``."""
        q = np.asarray(joints, dtype=np.float64).reshape(-1)
        if q.shape != (self.n_joints,) or not np.isfinite(q).all():
            raise InvalidArgumentError(
                f"expected {self.n_joints} finite arm joint positions, got {q.tolist()}"
            )
        height, width_px = self.format.image_size
        observation: dict[str, object] = dict(self.format.extra)
        for role, key in self.format.images.items():
            camera = self.cameras[role]
            if camera not in images:
                raise NoDataError(f"no image from the {camera} camera (the policy's {role} view)")
            observation[key] = resize_with_pad(images[camera], height, width_px)
        closed = 1.0 - float(np.clip(width / self.max_width, 0.0, 1.0))
        observation[self.format.joint_key] = q.astype(np.float32)
        observation[self.format.gripper_key] = np.array([closed], dtype=np.float32)
        observation[self.format.prompt_key] = prompt
        if objects is not None:
            observation[OBJECTS_KEY] = object_positions(objects)
        return observation

    # -- actions ----------------------------------------------------------------------------------
    def chunk(self, reply: Mapping[str, object]) -> np.ndarray:
        """The reply's action chunk as (horizon, n_joints + 1) float64; the horizon is read from the shape."""
        key = self.format.actions_key
        if key not in reply:
            raise PolicyProtocolError(f"the policy's reply has no {key!r}; it has {sorted(map(str, reply))}")
        actions = np.asarray(reply[key])
        if actions.ndim == 1:
            actions = actions[None, :]
        expected = self.n_joints + 1
        if actions.ndim != 2 or actions.shape[1] != expected or actions.shape[0] < 1:
            raise PolicyProtocolError(
                f"{key} must be (horizon, {expected}): {self.n_joints} joint "
                f"{self.spec.actions.split('_')[1]}s and the gripper; got shape {list(actions.shape)}"
            )
        if actions.dtype.kind not in "fiub" or not np.isfinite(actions.astype(np.float64)).all():
            raise PolicyProtocolError(f"{key} must be finite numbers; got dtype {actions.dtype}")
        return actions.astype(np.float64)

    def targets(self, chunk: np.ndarray, start: np.ndarray, steps: int) -> Targets:
        """The first ``steps`` rows of ``chunk`` (all when fewer) as joint targets, velocities integrated
        from ``start`` (rad) at the control period and capped at the arm's joint speed, and gripper widths."""
        rows = chunk[: max(1, steps)]
        q = np.asarray(start, dtype=np.float64).reshape(self.n_joints)
        arm, grip = rows[:, : self.n_joints], rows[:, self.n_joints]
        if self.spec.actions == "joint_velocity":
            velocity = np.clip(arm, -self.max_velocity, self.max_velocity)
            joints = q + np.cumsum(velocity * self.period, axis=0)
        else:
            joints = arm.copy()
        if self.limits is not None:
            joints = np.clip(joints, *self.limits)
        previous = np.vstack([q, joints[:-1]])
        commanded = np.abs(joints - previous).max(axis=1)
        closed = (grip > 0.5).astype(np.float64) if self.spec.gripper_binary else np.clip(grip, 0.0, 1.0)
        widths = (1.0 - closed) * self.max_width
        return Targets(joints, widths, self.period, commanded)
