"""TF for the simulated cell, as robot_state_publisher and a static transform publisher would send it.

``RobotTransforms`` (plain Python) computes from the robot's URDF tree (``robots.description``) the
fixed joints' transforms, the moving joints' transforms at given joint positions (parent -> child per
revolute/prismatic joint, mimic joints followed), and from the cell's MjData where the robot stands
(``fixed_frame -> base``) and the pose of every camera fixed in the cell. ``TfPublisher`` is the thin
ROS part: /tf_static (latched) and /tf (TFMessage), at most ``rate`` Hz of sim time, never twice at
one stamp.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import mujoco
import numpy as np
import transforms3d
from builtin_interfaces.msg import Time
from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage

from maestro_tools.common.conversions import seconds_to_time
from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.common.qos import LATCHED_QOS
from maestro_tools.robots.description import MJ_CAMERA_TO_OPTICAL, Joint, RobotTree, robot_tree
from maestro_tools.robots.profile import RobotProfile

TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)  # tf2's dynamic broadcaster QoS


Quat = tuple[float, float, float, float]  # w, x, y, z
Vec = tuple[float, float, float]


@dataclass(frozen=True)
class FrameTransform:
    """``child``'s pose in ``parent`` as a translation and a (w, x, y, z) quaternion."""

    parent: str
    child: str
    translation: Vec
    rotation: Quat

    @staticmethod
    def from_matrix(parent: str, child: str, matrix: np.ndarray) -> FrameTransform:
        w, x, y, z = (float(v) for v in transforms3d.quaternions.mat2quat(matrix[:3, :3]))
        tx, ty, tz = (float(v) for v in matrix[:3, 3])
        return FrameTransform(parent, child, (tx, ty, tz), (w, x, y, z))

    @property
    def matrix(self) -> np.ndarray:
        matrix = np.eye(4)
        matrix[:3, :3] = transforms3d.quaternions.quat2mat(self.rotation)
        matrix[:3, 3] = self.translation
        return matrix


def _multiply(a: Quat, b: Quat) -> Quat:
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return (
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    )


def _rotate(q: Quat, v: Vec) -> Vec:
    w, x, y, z = q
    vx, vy, vz = v
    # v + 2 w (q x v) + 2 q x (q x v)
    cx, cy, cz = y * vz - z * vy, z * vx - x * vz, x * vy - y * vx
    return (
        vx + 2 * (w * cx + y * cz - z * cy),
        vy + 2 * (w * cy + z * cx - x * cz),
        vz + 2 * (w * cz + x * cy - y * cx),
    )


def _pose(position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(rotation).reshape(3, 3)
    matrix[:3, 3] = position
    return matrix


@dataclass(frozen=True)
class _Moving:
    """A moving joint, prepared for a closed-form transform (called at the joint-state rate)."""

    joint: Joint
    translation: Vec
    rotation: Quat
    axis: Vec

    def at(self, position: float) -> FrameTransform:
        joint = self.joint
        if joint.type == "prismatic":
            dx, dy, dz = _rotate(self.rotation, tuple(a * position for a in self.axis))  # type: ignore[arg-type]
            tx, ty, tz = self.translation
            return FrameTransform(joint.parent, joint.child, (tx + dx, ty + dy, tz + dz), self.rotation)
        half = 0.5 * position
        sine = math.sin(half)
        motion = (math.cos(half), self.axis[0] * sine, self.axis[1] * sine, self.axis[2] * sine)
        return FrameTransform(joint.parent, joint.child, self.translation, _multiply(self.rotation, motion))


class RobotTransforms:
    """The transforms of one robot in its cell, as data."""

    def __init__(self, profile: RobotProfile, tree: RobotTree | None = None) -> None:
        self.profile = profile
        self.tree = tree or robot_tree(profile)
        self.fixed = [
            FrameTransform.from_matrix(j.parent, j.child, j.origin)
            for j in self.tree.joints
            if j.type == "fixed"
        ]
        self._moving = []
        for joint in self.tree.joints:
            if joint.type != "fixed":
                origin = FrameTransform.from_matrix(joint.parent, joint.child, joint.origin)
                axis = tuple(float(a) for a in joint.axis)
                self._moving.append(_Moving(joint, origin.translation, origin.rotation, axis))  # type: ignore[arg-type]

    def moving(self, names: Sequence[str], positions: Sequence[float]) -> list[FrameTransform]:
        """Parent -> child of every moving joint at the given joint positions (joints not given and not
        mimicking a given one are left out, as robot_state_publisher does)."""
        values: Mapping[str, float] = dict(zip(names, positions, strict=True))
        transforms = []
        for moving in self._moving:
            joint = moving.joint
            if joint.name in values:
                position = float(values[joint.name])
            elif joint.mimic is not None and joint.mimic[0] in values:
                leader, multiplier, offset = joint.mimic
                position = float(values[leader]) * multiplier + offset
            else:
                continue
            transforms.append(moving.at(position))
        return transforms

    def cell(self, model: mujoco.MjModel, data: mujoco.MjData) -> list[FrameTransform]:
        """From the cell's MjData: where the robot's root stands in the fixed frame, and the optical
        frames of the cameras fixed in the cell (those that are not part of the robot's model)."""
        fixed = self.profile.fixed_frame
        root = model.body(self.tree.root_body).id
        transforms = [
            FrameTransform.from_matrix(fixed, self.tree.root, _pose(data.xpos[root], data.xmat[root]))
        ]
        for camera in self.profile.cameras:
            if camera.mjcf_camera:
                continue  # on the robot: a fixed joint of its URDF
            if camera.mount_frame != fixed:
                raise InvalidArgumentError(
                    f"cell camera {camera.name!r} is mounted on {camera.mount_frame!r}; "
                    f"cell cameras must hang on the fixed frame {fixed!r}"
                )
            mj = model.camera(camera.name).id
            pose = _pose(data.cam_xpos[mj], data.cam_xmat[mj]) @ MJ_CAMERA_TO_OPTICAL
            transforms.append(FrameTransform.from_matrix(fixed, camera.optical_frame, pose))
        return transforms


def _fill(message: TransformStamped, item: FrameTransform, stamp: Time) -> TransformStamped:
    message.header.stamp = stamp
    message.header.frame_id, message.child_frame_id = item.parent, item.child
    translation, rotation = message.transform.translation, message.transform.rotation
    translation.x, translation.y, translation.z = item.translation
    rotation.w, rotation.x, rotation.y, rotation.z = item.rotation
    return message


def to_message(transforms: Sequence[FrameTransform], stamp: float) -> TFMessage:
    """TransformStamped messages at one stamp (seconds)."""
    time = seconds_to_time(stamp)
    return TFMessage(transforms=[_fill(TransformStamped(), item, time) for item in transforms])


class TfPublisher:
    """Publishes a RobotTransforms on /tf_static and /tf for ``node``."""

    def __init__(self, node: Node, transforms: RobotTransforms, rate: float) -> None:
        self.transforms, self.period = transforms, 1.0 / rate if rate > 0 else 0.0
        self._static = node.create_publisher(TFMessage, "/tf_static", LATCHED_QOS)
        self._dynamic = node.create_publisher(TFMessage, "/tf", TF_QOS)
        self._last = -np.inf
        self._next = -np.inf
        self._message = TFMessage()

    def publish_static(
        self,
        model: mujoco.MjModel,
        data: mujoco.MjData,
        stamp: float,
        cell: Sequence[FrameTransform] | None = None,
    ) -> None:
        """Every fixed transform in one latched message (the robot's and the cell's). ``cell`` replaces
        the cell's transforms read from MjData (a mobile robot: map -> odom; its base moves on /tf)."""
        cell = self.transforms.cell(model, data) if cell is None else cell
        self._static.publish(to_message([*cell, *self.transforms.fixed], stamp))

    def publish(
        self,
        stamp: float,
        names: Sequence[str],
        positions: Sequence[float],
        force: bool = False,
        extra: Sequence[FrameTransform] = (),
    ) -> None:
        """The moving joints at ``stamp`` (and ``extra`` transforms, e.g. odom -> base_link): at most
        ``rate`` Hz unless ``force`` (an image's instant); never twice at one stamp (tf2 warns about
        repeated data)."""
        if stamp == self._last or (not force and stamp < self._next):
            return
        if not force:
            self._next = stamp + self.period - 1e-6
        self._last = stamp
        # Messages reused: building ROS messages in Python costs more than the kinematics.
        transforms = [*self.transforms.moving(names, positions), *extra]
        while len(self._message.transforms) < len(transforms):
            self._message.transforms.append(TransformStamped())
        del self._message.transforms[len(transforms) :]
        time = seconds_to_time(stamp)
        for message, item in zip(self._message.transforms, transforms, strict=True):
            _fill(message, item, time)
        self._dynamic.publish(self._message)
