"""TF of the LIBERO cell, read from LIBERO's simulation (not from a URDF: the mujoco-4 model code cannot
run under LIBERO's mujoco 2.3.7); the frame names are the ``libero`` profile's.

/tf_static: world -> base (where the scene puts the robot: (-0.66, 0, 0.912) on the tables, (-0.6, 0, 0)
in libero_object's floor scene), world -> the scene camera's optical frame (agentview), the hand -> the
wrist camera's optical frame; re-sent after each reset. /tf each step: base -> the arm's links, the hand,
the TCP (LIBERO's grip site) and the fingers, each straight from the base (a flat tree).
"""

from __future__ import annotations

import numpy as np
import transforms3d
from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage

from maestro_tools.common.conversions import seconds_to_time
from maestro_tools.common.qos import LATCHED_QOS
from maestro_tools.robots.libero import LIBERO, LIBERO_FRAMES
from maestro_tools.sim.libero.world import LiberoWorld

OPTICAL = {camera.name: camera.optical_frame for camera in LIBERO.cameras}  # camera -> its optical frame
FIXED, BASE, WRIST = LIBERO.fixed_frame, LIBERO.base_frame, LIBERO.camera("wrist")
assert LIBERO.arm is not None
TCP_FRAME = LIBERO.arm.tcp_frame
# The LIBERO body the wrist camera is fixed to (the body whose ROS frame is the camera's mount).
WRIST_BODY = next(body for body, frame in LIBERO_FRAMES.items() if frame == WRIST.mount_frame)
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)


def transform(parent: str, child: str, matrix: np.ndarray, stamp: float) -> TransformStamped:
    message = TransformStamped()
    message.header.stamp, message.header.frame_id, message.child_frame_id = (
        seconds_to_time(stamp),
        parent,
        child,
    )
    t, r = message.transform.translation, message.transform.rotation
    t.x, t.y, t.z = (float(v) for v in matrix[:3, 3])
    r.w, r.x, r.y, r.z = (float(v) for v in transforms3d.quaternions.mat2quat(matrix[:3, :3]))
    return message


class TfFrames:
    def __init__(self, node: Node) -> None:
        self.static_pub = node.create_publisher(TFMessage, "/tf_static", LATCHED_QOS)
        self.pub = node.create_publisher(TFMessage, "/tf", TF_QOS)
        self._links: list[tuple[str, str]] = []

    @staticmethod
    def in_base(world: LiberoWorld, pose: np.ndarray) -> np.ndarray:
        return np.linalg.inv(world.base_pose()) @ pose

    def publish_static(self, world: LiberoWorld) -> None:
        names = {world.model.body_id2name(i) for i in range(world.model.nbody)}
        self._links = [(body, frame) for body, frame in LIBERO_FRAMES.items() if body in names]
        mount = world.body_pose(WRIST_BODY)
        transforms = [
            transform(FIXED, BASE, world.base_pose(), world.time),
            transform(FIXED, OPTICAL["scene"], world.camera_pose("scene"), world.time),
            transform(
                WRIST.mount_frame,
                WRIST.optical_frame,
                np.linalg.inv(mount) @ world.camera_pose("wrist"),
                world.time,
            ),
        ]
        self.static_pub.publish(TFMessage(transforms=transforms))

    def publish(self, world: LiberoWorld) -> None:
        base_inv = np.linalg.inv(world.base_pose())
        transforms = [
            transform(BASE, frame, base_inv @ world.body_pose(body), world.time)
            for body, frame in self._links
        ]
        transforms.append(transform(BASE, TCP_FRAME, base_inv @ world.tcp_pose(), world.time))
        self.pub.publish(TFMessage(transforms=transforms))
