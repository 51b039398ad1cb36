"""Camera frames from the topics camera drivers publish, with the camera's pose from TF.

Works with the sim node and with real drivers (``<camera>_camera/color/image_raw``,
``.../depth/image_raw`` aligned to colour, 32FC1 metres or 16UC1 millimetres with 0 = no reading,
``.../color/camera_info``). A frame is the newest colour image with a depth image within
``pair_tolerance`` of its stamp; the camera pose is the colour header's optical frame looked up in the
base frame at the image's stamp. Subscriptions take the best available reliability: reliable when
every publisher is (the sim's: best effort loses fragments of large images, a grab then waits up to
five times longer), best effort when a driver publishes best effort.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack, nullcontext

import numpy as np
from rclpy.callback_groups import CallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import Subscription
from sensor_msgs.msg import CameraInfo, Image

from maestro_tools.common.conversions import camera_info_to_intrinsics, image_to_numpy
from maestro_tools.common.errors import InvalidArgumentError, NoDataError, NotFoundError
from maestro_tools.common.tf import ExtrapolationError, UnknownFrameError
from maestro_tools.common.tf_listener import TfListener
from maestro_tools.perception.objects import CameraFrame
from maestro_tools.robots.profile import RobotProfile

# BEST_AVAILABLE: reliable if every publisher found is, else best effort (matching both); shallow.
SENSOR_QOS = QoSProfile(
    depth=2, reliability=ReliabilityPolicy.BEST_AVAILABLE, history=HistoryPolicy.KEEP_LAST
)
# Small and repeated: best effort, so a lost one is not waited for (a reliable reader holds later
# samples back until a lost one is repaired: 0.5-3 s with Fast DDS while large images flow).
INFO_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST)
_KINDS = {
    "color": (Image, "color/image_raw", SENSOR_QOS),
    "depth": (Image, "depth/image_raw", SENSOR_QOS),
    "info": (CameraInfo, "color/camera_info", INFO_QOS),
}
_IMAGES = ("color", "depth")
_KEEP = 5  # messages kept per topic to pair stamps


def _stamp(message: Image | CameraInfo) -> int:
    return message.header.stamp.sec * 10**9 + message.header.stamp.nanosec


def depth_metres(message: Image) -> np.ndarray:
    """A depth image as float32 metres: 32FC1 as it is, 16UC1/mono16 millimetres scaled (0 stays 0)."""
    depth = image_to_numpy(message)
    if message.encoding == "32FC1":
        return depth
    if message.encoding in ("16UC1", "mono16"):
        return depth.astype(np.float32) * np.float32(0.001)
    raise InvalidArgumentError(
        f"depth image encoding {message.encoding!r} is not depth; expected 32FC1 (m) or 16UC1 (mm)"
    )


def colour_rgb(message: Image) -> np.ndarray:
    """A colour image as (H, W, 3) RGB, whichever channel order the driver sends."""
    image = image_to_numpy(message)
    if message.encoding in ("bgr8", "bgra8"):
        return np.ascontiguousarray(image[:, :, 2::-1])
    return image[:, :, :3] if message.encoding == "rgba8" else image


def optical_frame(profile: RobotProfile, camera: str) -> str:
    """The camera's optical frame in the profile; the driver convention for a camera it does not name."""
    known = {c.name: c.optical_frame for c in profile.cameras}
    return known.get(camera, f"{camera}_camera_optical_frame")


def _base_frame_of(node: Node) -> str:
    """The base frame of the node's robot profile (its ``robot`` parameter, declared if it is not)."""
    from maestro_tools.robots import get_robot
    from maestro_tools.robots.params import declare_robot

    if node.has_parameter("robot"):
        return get_robot(node.get_parameter("robot").value).base_frame
    return declare_robot(node).base_frame


class TopicFrameSource:
    """The newest matched frame per camera. With ``on_demand``, colour and depth are subscribed only for
    the duration of a ``grab`` (a simulated camera renders only while they are watched), while camera
    info and /tf_static stay subscribed: they cost little, and a fresh subscription's discovery
    sometimes takes over a second. A camera fixed in the cell needs only /tf_static; for one on the
    robot /tf (costly in rclpy at a robot's rate) is heard from the start of its grabs.

    ``base_frame``: the frame camera poses are expressed in (default: the node's robot profile's);
    ``tf``: a listener to share (default: a new on-demand one: /tf is heard only during a frame's
    wait); ``pair_tolerance``: seconds between a colour and a depth stamp that still make one frame."""

    def __init__(
        self,
        node: Node,
        group: CallbackGroup,
        cameras: Sequence[str],
        timeout: float,
        on_demand: bool = False,
        *,
        base_frame: str | None = None,
        tf: TfListener | None = None,
        pair_tolerance: float = 0.02,
    ) -> None:
        self.timeout, self.cameras = timeout, tuple(cameras)
        self.base_frame = base_frame or _base_frame_of(node)
        self.tf = tf or TfListener(node, group, on_demand=True)
        self.pair_tolerance = pair_tolerance
        self._latest: dict[tuple[str, str], dict[int, Image | CameraInfo]] = {}
        self._lock = threading.Lock()
        self._node, self._group = node, group
        self._subscriptions: dict[tuple[str, str], Subscription] = {}
        self._blind: set[tuple[str, str]] = set()  # subscribed before any publisher was known
        self._moving: set[str] = set()  # cameras whose pose needed /tf last time (on the robot)
        for camera in self.cameras:
            for kind in _KINDS:
                self._latest[(camera, kind)] = {}
                if not (on_demand and kind in _IMAGES):
                    self._subscribe(camera, kind)

    def _subscribe(self, camera: str, kind: str) -> None:
        kind_type, suffix, qos = _KINDS[kind]
        topic = f"{camera}_camera/{suffix}"
        # The best available reliability is chosen now, from the publishers known now.
        if kind in _IMAGES and self._node.count_publishers(topic) == 0:
            self._blind.add((camera, kind))
        else:
            self._blind.discard((camera, kind))
        self._subscriptions[(camera, kind)] = self._node.create_subscription(
            kind_type,
            topic,
            lambda message, key=(camera, kind): self._store(key, message),
            qos,
            callback_group=self._group,
            # No QoS-event handlers: rclpy (Jazzy) races destroying them against a spinning
            # executor's wait set ("cannot use Destroyable"), and grabs destroy these.
            event_callbacks=SubscriptionEventCallbacks(use_default_callbacks=False),
        )

    def _resubscribe_blind(self, camera: str) -> None:
        """Choose again for subscriptions made before their publishers were found (a best-effort
        driver would never match the reliable subscription chosen then)."""
        for key in [k for k in self._blind if k[0] == camera]:
            if self._node.count_publishers(f"{camera}_camera/{_KINDS[key[1]][1]}") > 0:
                self._unsubscribe([key])
                self._subscribe(*key)

    def _unsubscribe(self, keys: Sequence[tuple[str, str]]) -> None:
        for key in keys:
            subscription = self._subscriptions.pop(key, None)
            if subscription is not None:
                self._node.destroy_subscription(subscription)

    def grab(self, camera: str, timeout: float | None = None) -> CameraFrame:
        """A frame taken now: colour and depth are subscribed for the grab when they are not already."""
        self._check(camera)
        added = [(camera, kind) for kind in _IMAGES if (camera, kind) not in self._subscriptions]
        with self._lock:
            for key in added:
                self._latest[key].clear()  # only frames rendered for this grab
        # A camera on the robot needs /tf: heard from now, its discovery overlapping the images'.
        with self.tf.listening() if camera in self._moving else nullcontext():
            for _, kind in added:
                self._subscribe(camera, kind)
            try:
                return self(camera, timeout)
            finally:
                self._unsubscribe(added)

    def close(self) -> None:
        """Unsubscribe everything."""
        self._unsubscribe(list(self._subscriptions))

    def _why(self, camera: str, problem: str) -> str:
        """``problem``, unless nothing publishes the camera at all: then the robot interface is down."""
        silent = [
            self._node.resolve_topic_name(f"{camera}_camera/{_KINDS[kind][1]}")
            for kind in _IMAGES
            if self._node.count_publishers(f"{camera}_camera/{_KINDS[kind][1]}") == 0
        ]
        if not silent:
            return problem
        return (
            f"nothing publishes {', '.join(silent)}: the robot interface (the sim node or the camera "
            "driver) is not running, or runs in another namespace or ROS_DOMAIN_ID"
        )

    def _check(self, camera: str) -> None:
        if camera not in self.cameras:
            raise NotFoundError(f"unknown camera {camera!r}; cameras: {', '.join(self.cameras)}")

    def _store(self, key: tuple[str, str], message: Image | CameraInfo) -> None:
        with self._lock:
            recent = self._latest[key]
            recent[_stamp(message)] = message
            for stale in sorted(recent)[:-_KEEP]:
                del recent[stale]

    def _pair(self, camera: str) -> tuple[Image, Image, CameraInfo] | None:
        """The newest colour image with a depth image within the tolerance, and the newest info."""
        tolerance = round(self.pair_tolerance * 1e9)
        with self._lock:
            colours, depths = self._latest[(camera, "color")], self._latest[(camera, "depth")]
            infos = self._latest[(camera, "info")]
            if not (colours and depths and infos):
                return None
            for stamp in sorted(colours, reverse=True):
                nearest = min(depths, key=lambda d: abs(d - stamp))
                if abs(nearest - stamp) <= tolerance:
                    return colours[stamp], depths[nearest], infos[max(infos)]  # type: ignore[return-value]
        return None

    def __call__(self, camera: str, timeout: float | None = None) -> CameraFrame:
        self._check(camera)
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        next_check = time.monotonic() + 0.5
        problem = f"no colour and depth within {self.pair_tolerance} s of each other (and camera info)"
        with ExitStack() as stack:
            listening = camera in self._moving
            if listening:
                stack.enter_context(self.tf.listening())
            while True:
                if (pair := self._pair(camera)) is not None:
                    colour, depth, info = pair
                    stamp, optical = _stamp(colour) * 1e-9, colour.header.frame_id.lstrip("/")
                    if not optical:
                        raise InvalidArgumentError(
                            f"the {camera} camera's images have no header.frame_id: TF cannot place it"
                        )
                    if self.tf.is_static(self.base_frame, optical):  # a camera fixed in the cell
                        self._moving.discard(camera)
                        pose = self.tf.lookup(self.base_frame, optical, stamp)
                        break
                    if not listening:  # on the robot: its pose needs /tf, from now on
                        self._moving.add(camera)
                        stack.enter_context(self.tf.listening())
                        listening = True
                    try:  # briefly: an image older than what TF holds needs a newer image instead
                        wait = min(0.1, max(0.0, deadline - time.monotonic()))
                        pose = self.tf.lookup(self.base_frame, optical, stamp, timeout=wait)
                        break
                    except (UnknownFrameError, ExtrapolationError) as exc:
                        problem = f"no pose for it ({optical} in {self.base_frame}): {exc}"
                if time.monotonic() >= deadline:
                    raise NoDataError(
                        f"no frame from the {camera} camera within {timeout} s: {self._why(camera, problem)}"
                    )
                if time.monotonic() >= next_check:
                    next_check += 0.5
                    self._resubscribe_blind(camera)
                time.sleep(0.005)
        return CameraFrame(
            camera=camera,
            rgb=colour_rgb(colour),
            depth=depth_metres(depth),
            instances=None,
            labels={},
            intrinsics=camera_info_to_intrinsics(info),
            camera_pose=pose,
            stamp=stamp,
        )
