"""``TfListener``: a node's TF buffer, filled from /tf and /tf_static (see ``tf.py``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped, TransformStamped
from rclpy.callback_groups import CallbackGroup
from rclpy.duration import Duration
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from tf2_msgs.msg import TFMessage

from maestro_tools.common.conversions import pose_to_matrix
from maestro_tools.common.tf import (
    ExtrapolationError,
    TransformTree,
    UnknownFrameError,
    stamp_seconds,
    transform_points,
    transform_to_matrix,
)


class TfListener:
    """Transforms from /tf and /tf_static for a node, stored in a TransformTree (or, where ``import
    tf2_ros`` works, in tf2_ros's Buffer, filled by its TransformListener when persistent).

    rclpy spends ~2.5 ms of CPU per /tf message (26% of a core at a robot's 100 Hz under a
    MultiThreadedExecutor), so with ``on_demand`` the node hears /tf only inside ``listening()`` and
    ``lookup`` and for ``linger`` s after (a burst of grabs keeps one subscription; the history starts
    afresh with each new one); lookups that /tf_static answers alone never subscribe /tf. /tf_static
    (latched) is always subscribed. Subscriptions live in ``group``: give a reentrant one so that
    lookups from callbacks do not block them.
    """

    def __init__(
        self,
        node: Node,
        group: CallbackGroup | None = None,
        *,
        on_demand: bool = False,
        linger: float = 5.0,
        tolerance: float = 0.05,
        cache_time: float = 10.0,
    ) -> None:
        self.node, self.group, self.on_demand, self.tolerance = node, group, on_demand, tolerance
        self.cache_time = cache_time
        self.tree = TransformTree(cache_time, tolerance)
        self._changed = threading.Condition()
        self._listeners, self._dynamic, self._idle_since = 0, None, 0.0
        self.linger = linger
        self._statics: dict[str, TransformStamped] = {}
        # /tf best effort: a lost sample is interpolated over, whereas a reliable reader holds every later
        # one back until the lost one is repaired (1-3 s with Fast DDS while large images flow).
        self._qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)
        self._buffer: Any = None
        try:
            import tf2_ros  # stock ROS: the standard buffer (C++) and listener
        except ImportError:
            tf2_ros = None
        if tf2_ros is not None and not on_demand:
            self._buffer = self._new_buffer()
            self._listener = tf2_ros.TransformListener(self._buffer, node, spin_thread=False)
            return
        if tf2_ros is not None:
            self._buffer = self._new_buffer()
        static = QoSProfile(
            depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        node.create_subscription(
            TFMessage, "/tf_static", lambda m: self._store(m.transforms, True), static, callback_group=group
        )
        if not on_demand:
            self._subscribe_dynamic()
        else:
            node.create_timer(min(1.0, max(0.1, linger / 2)), self._drop_idle, callback_group=group)

    def _new_buffer(self) -> Any:
        import tf2_ros

        buffer = tf2_ros.Buffer(cache_time=Duration(seconds=self.cache_time), node=self.node)
        for message in self._statics.values():
            buffer.set_transform_static(message, "maestro")
        return buffer

    def _subscribe_dynamic(self) -> None:
        self._dynamic = self.node.create_subscription(
            TFMessage,
            "/tf",
            lambda m: self._store(m.transforms, False),
            self._qos,
            callback_group=self.group,
            # No QoS-event handlers: destroying them races a spinning executor in rclpy (Jazzy).
            event_callbacks=SubscriptionEventCallbacks(use_default_callbacks=False),
        )

    @contextmanager
    def listening(self) -> Iterator[None]:
        """Receive /tf for the duration and ``linger`` s after (re-entrant; no-op when persistent)."""
        if not self.on_demand:
            yield
            return
        with self._changed:
            self._listeners += 1
            if self._dynamic is None:  # a fresh history: no interpolation across the gap
                self.tree = TransformTree(self.cache_time, self.tolerance)
                for message in self._statics.values():
                    self._store([message], True, notify=False)
                if self._buffer is not None:
                    self._buffer = self._new_buffer()
                self._subscribe_dynamic()
        try:
            yield
        finally:
            with self._changed:
                self._listeners -= 1
                self._idle_since = time.monotonic()

    def _drop_idle(self) -> None:
        """Timer: end /tf once nothing has listened for ``linger`` s."""
        with self._changed:
            idle = self._listeners == 0 and time.monotonic() - self._idle_since > self.linger
            if idle and self._dynamic is not None:
                self.node.destroy_subscription(self._dynamic)
                self._dynamic = None

    def _store(self, transforms: Iterable[TransformStamped], static: bool, notify: bool = True) -> None:
        with self._changed:  # not while ``listening`` swaps the history
            for message in transforms:
                if static:
                    self._statics[message.child_frame_id] = message
                if self._buffer is not None:
                    store = self._buffer.set_transform_static if static else self._buffer.set_transform
                    store(message, "maestro")
                    continue
                stamp = None if static else message.header.stamp.sec + message.header.stamp.nanosec * 1e-9
                t, q = message.transform.translation, message.transform.rotation
                self.tree.set_transform(
                    message.header.frame_id.lstrip("/"),
                    message.child_frame_id.lstrip("/"),
                    (t.x, t.y, t.z),  # type: ignore[arg-type]
                    (q.w, q.x, q.y, q.z),  # type: ignore[arg-type]
                    stamp,
                )
            if notify:
                self._changed.notify_all()

    def _lookup_once(self, target: str, source: str, stamp: float | None) -> np.ndarray:
        if self._buffer is None:
            return self.tree.lookup(target, source, stamp)
        import tf2_ros

        when = Time() if stamp is None else Time(nanoseconds=round(stamp * 1e9))
        try:
            try:
                return transform_to_matrix(self._buffer.lookup_transform(target, source, when).transform)
            except tf2_ros.ExtrapolationException as exc:
                latest = self._buffer.lookup_transform(target, source, Time())  # nearest within tolerance
                age = abs(latest.header.stamp.sec + latest.header.stamp.nanosec * 1e-9 - (stamp or 0.0))
                if stamp is not None and age <= self.tolerance:
                    return transform_to_matrix(latest.transform)
                raise ExtrapolationError(str(exc)) from None
        except tf2_ros.LookupException as exc:
            raise UnknownFrameError(f"{exc}; frames: {self._buffer.all_frames_as_string()}") from None
        except tf2_ros.TransformException as exc:
            raise UnknownFrameError(str(exc)) from None

    def is_static(self, target: str, source: str) -> bool:
        """Whether /tf_static alone connects the frames (no /tf needed; False where unknown)."""
        if self._buffer is not None:
            return False  # tf2's Buffer does not say; listen
        return self.tree.is_static(target, source)

    def lookup(
        self, target: str, source: str, stamp: float | None = None, timeout: float = 0.0
    ) -> np.ndarray:
        """4x4 pose of ``source`` in ``target`` at ``stamp`` (seconds; None = latest), waiting up to
        ``timeout`` s for it; raises UnknownFrameError or ExtrapolationError with what TF has."""
        if self.is_static(target, source):
            return self.tree.lookup(target, source, stamp)  # /tf_static alone: no need to hear /tf
        deadline = time.monotonic() + timeout
        with self.listening():
            while True:
                try:
                    return self._lookup_once(target, source, stamp)
                except (UnknownFrameError, ExtrapolationError):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise
                with self._changed:
                    self._changed.wait(min(remaining, 0.05))

    def transform_points(
        self,
        points: np.ndarray,
        *,
        source: str,
        target: str,
        stamp: float | None = None,
        timeout: float = 0.0,
    ) -> np.ndarray:
        """(N, 3) points in ``source`` expressed in ``target`` (frames by keyword: no order to mix up)."""
        return transform_points(self.lookup(target, source, stamp, timeout), points)

    def transform_pose(
        self, pose: np.ndarray, *, source: str, target: str, stamp: float | None = None, timeout: float = 0.0
    ) -> np.ndarray:
        """A 4x4 pose in ``source`` expressed in ``target``."""
        return self.lookup(target, source, stamp, timeout) @ np.asarray(pose, dtype=np.float64)

    def pose_in(self, message: PoseStamped, target: str, timeout: float = 1.0) -> np.ndarray:
        """The one call for a pose goal: a PoseStamped (any frame TF knows; an empty frame_id means
        ``target``; a zero stamp the latest transform) as a 4x4 pose in ``target``."""
        pose = pose_to_matrix(message.pose)
        source = message.header.frame_id.lstrip("/") or target
        if source == target:
            return pose
        stamp = stamp_seconds(message.header.stamp)
        return self.transform_pose(pose, source=source, target=target, stamp=stamp, timeout=timeout)
