"""Camera frames from the robot interface's topics (colour, depth, camera info, camera pose).

Works with the sim node and with real camera drivers that publish the same topics
(``<camera>_camera/color/image_raw``, ``.../depth/image_raw`` in metres, ``.../color/camera_info``,
``<camera>_camera/pose`` in ``base``). A frame is the newest colour image whose depth and pose carry
the same stamp (the sim renders them at one instant; real drivers should use aligned depth).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import CallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.subscription import Subscription
from sensor_msgs.msg import CameraInfo, Image

from maestro_tools.common.conversions import camera_info_to_intrinsics, image_to_numpy, pose_to_matrix
from maestro_tools.common.errors import NoDataError, NotFoundError
from maestro_tools.common.qos import IMAGE_QOS, STATE_QOS
from maestro_tools.perception.objects import CameraFrame

_KINDS = {
    "color": (Image, "color/image_raw", IMAGE_QOS),
    "depth": (Image, "depth/image_raw", IMAGE_QOS),
    "info": (CameraInfo, "color/camera_info", STATE_QOS),
    "pose": (PoseStamped, "pose", STATE_QOS),
}
_IMAGES = ("color", "depth")


def _stamp(message: Image | CameraInfo | PoseStamped) -> int:
    return message.header.stamp.sec * 10**9 + message.header.stamp.nanosec


class TopicFrameSource:
    """The newest matched frame per camera. With ``on_demand``, colour and depth are subscribed only for
    the duration of a ``grab`` (a simulated camera renders only while they are watched), while camera
    info and pose stay subscribed: they cost nothing, and a fresh subscription's discovery sometimes
    takes over a second, so a grab waits for two new subscriptions rather than four."""

    def __init__(
        self,
        node: Node,
        group: CallbackGroup,
        cameras: Sequence[str],
        timeout: float,
        on_demand: bool = False,
    ) -> None:
        self.timeout, self.cameras = timeout, tuple(cameras)
        self._latest: dict[tuple[str, str], dict[int, object]] = {}
        self._lock = threading.Lock()
        self._node, self._group = node, group
        self._subscriptions: dict[tuple[str, str], Subscription] = {}
        for camera in self.cameras:
            for kind in _KINDS:
                self._latest[(camera, kind)] = {}
                if not (on_demand and kind in _IMAGES):
                    self._subscribe(camera, kind)

    def _subscribe(self, camera: str, kind: str) -> None:
        kind_type, suffix, qos = _KINDS[kind]
        self._subscriptions[(camera, kind)] = self._node.create_subscription(
            kind_type,
            f"{camera}_camera/{suffix}",
            lambda message, key=(camera, kind): self._store(key, message),
            qos,
            callback_group=self._group,
            # No QoS-event handlers: rclpy (Jazzy) races destroying them against a spinning
            # executor's wait set ("cannot use Destroyable"), and grabs destroy these.
            event_callbacks=SubscriptionEventCallbacks(use_default_callbacks=False),
        )

    def _unsubscribe(self, keys: Sequence[tuple[str, str]]) -> None:
        for key in keys:
            subscription = self._subscriptions.pop(key, None)
            if subscription is not None:
                self._node.destroy_subscription(subscription)

    def grab(self, camera: str, timeout: float | None = None) -> CameraFrame:
        """A frame taken now: colour and depth are subscribed for the grab when they are not already."""
        if camera not in self.cameras:
            raise NotFoundError(f"unknown camera {camera!r}; cameras: {', '.join(self.cameras)}")
        added = [(camera, kind) for kind in _IMAGES if (camera, kind) not in self._subscriptions]
        with self._lock:
            for key in added:
                self._latest[key].clear()  # only frames rendered for this grab
        for _, kind in added:
            self._subscribe(camera, kind)
        try:
            return self(camera, timeout)
        finally:
            self._unsubscribe(added)

    def close(self) -> None:
        """Unsubscribe everything."""
        self._unsubscribe(list(self._subscriptions))

    def _store(self, key: tuple[str, str], message: object) -> None:
        with self._lock:
            recent = self._latest[key]
            recent[_stamp(message)] = message  # type: ignore[arg-type]
            for stale in sorted(recent)[:-5]:  # keep the last few per topic to pair stamps
                del recent[stale]

    def __call__(self, camera: str, timeout: float | None = None) -> CameraFrame:
        if camera not in self.cameras:
            raise NotFoundError(f"unknown camera {camera!r}; cameras: {', '.join(self.cameras)}")
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                colours, depths = self._latest[(camera, "color")], self._latest[(camera, "depth")]
                poses, infos = self._latest[(camera, "pose")], self._latest[(camera, "info")]
                common = sorted(set(colours) & set(depths) & set(poses))
                if common and infos:
                    stamp = common[-1]
                    colour, depth, pose = colours[stamp], depths[stamp], poses[stamp]
                    info = infos[max(infos)]
                    break
            time.sleep(0.01)
        else:
            raise NoDataError(
                f"no matching colour, depth and pose from the {camera} camera within {timeout} s; "
                f"is {camera}_camera publishing?"
            )
        return CameraFrame(
            camera=camera,
            rgb=image_to_numpy(colour),
            depth=image_to_numpy(depth),
            instances=None,
            labels={},
            intrinsics=camera_info_to_intrinsics(info),
            camera_pose=pose_to_matrix(pose.pose),
            stamp=stamp * 1e-9,
        )
