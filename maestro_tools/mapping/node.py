"""The ``semantic_mapper`` node: a persistent object map in the robot's fixed frame.

In: ``detector/frames`` (maestro_msgs/DetectionFrame), published by the detector for every detection
call: the sightings are lifted into the fixed frame (TF from the detections' frame at the image's
stamp) and merged; the depth and camera pose give the negative evidence. Served:
``query_map`` (maestro_msgs/srv/QueryMap: by label, id, near a point, inside a box, in any TF frame, with
a compact description for a prompt) and ``update_map`` (UpdateMap: upserts, removals, clear). Out:
``semantic_map/markers`` (latched MarkerArray: boxes with labels, fading with confidence).

``reset_topic`` (the simulator's latched ``scene``, maestro_msgs/srv/ResetScene responses): every new
scene clears the map, since a reset world owes nothing to the old one.

Storage: ``storage`` sqlite keeps ``<directory>/<map_name>.sqlite`` across restarts (a file that is not
such a map stops the node with a message naming it); memory starts empty each time.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from visualization_msgs.msg import MarkerArray

from maestro_msgs.msg import DetectionFrame
from maestro_msgs.srv import QueryMap, ResetScene, UpdateMap
from maestro_tools.common.conversions import pose_to_matrix, seconds_to_time
from maestro_tools.common.errors import InvalidArgumentError, MaestroError, NotFoundError
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.qos import LATCHED_QOS
from maestro_tools.common.tf import ExtrapolationError, UnknownFrameError, invert
from maestro_tools.common.tf_listener import TfListener
from maestro_tools.common.validate import (
    LABEL_LIMIT,
    NAME_LIMIT,
    answer_errors,
    items,
    number,
    text,
    unexpected,
    vector,
)
from maestro_tools.common.validate import pose as check_pose
from maestro_tools.mapping import messages
from maestro_tools.mapping.entries import MapEntry, describe
from maestro_tools.mapping.semantic_map import MapConfig, SemanticMap
from maestro_tools.mapping.store import open_store
from maestro_tools.robots.params import declare_robot

MAX_UPSERTS = 1000
FRAME_BACKLOG = 20  # frames waiting for integration; beyond, the oldest is dropped (with a warning)
FRAMES_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)


class SemanticMapperNode(Node):
    def __init__(self) -> None:
        super().__init__("semantic_mapper")
        self.profile = declare_robot(self)
        self.frame = declare(
            self, "fixed_frame", self.profile.fixed_frame, "Frame the map lives in (REP-105: world or map)"
        )
        storage = declare(
            self,
            "storage",
            "sqlite",
            "Where the map persists: sqlite (<directory>/<map_name>.sqlite, kept across restarts) or "
            "memory (empty at each start)",
            choices=("sqlite", "memory"),
        )
        directory = declare(
            self, "directory", str(Path.home() / ".maestro" / "maps"), "Folder of the sqlite map files"
        )
        name = declare(
            self, "map_name", self.profile.name, "The map's name (its file): letters, digits, '_' or '-'"
        )
        defaults = MapConfig()
        config = MapConfig(
            merge_distance=declare(
                self,
                "merge_distance",
                defaults.merge_distance,
                "m: sightings this close merge",
                minimum=0.001,
            ),
            merge_size_factor=declare(
                self,
                "merge_size_factor",
                defaults.merge_size_factor,
                "... or closer than this times the larger object's size",
                minimum=0.0,
            ),
            max_weight=declare(
                self, "max_weight", defaults.max_weight, "Cap of the position mean's weight", minimum=1
            ),
            max_views=declare(self, "max_views", defaults.max_views, "Views kept per object", minimum=0),
            miss_decay=declare(
                self,
                "miss_decay",
                defaults.miss_decay,
                "Confidence an object loses when in plain view but not detected",
                minimum=0.01,
                maximum=1.0,
            ),
            min_confidence=declare(
                self,
                "min_confidence",
                defaults.min_confidence,
                "Objects below this confidence are dropped",
                minimum=0.0,
                maximum=0.99,
            ),
            max_objects=declare(self, "max_objects", defaults.max_objects, "Objects kept at most", minimum=1),
            hull_min_size=declare(
                self,
                "hull_min_size",
                defaults.hull_min_size,
                "m: objects this large (furniture, seen a part at a time) keep the box that holds their "
                "overlapping sightings; smaller ones a running mean",
                minimum=0.01,
            ),
        )
        self.tf_timeout = declare(
            self, "tf_timeout", 0.5, "Seconds to wait for a transform at an image's stamp", minimum=0.0
        )
        self.tf_connect_timeout = declare(
            self,
            "tf_connect_timeout",
            5.0,
            "Seconds to wait for a frame TF does not connect to the fixed frame yet (the first frames after "
            "start, before /tf_static is heard)",
            minimum=0.0,
        )
        reset_topic = declare(
            self,
            "reset_topic",
            "",
            "Topic of maestro_msgs/srv/ResetScene responses (the simulator's latched 'scene'): each new "
            "scene clears the map; empty = never",
        )
        self.map = SemanticMap(open_store(storage, directory, name), config)
        self._scene_start = 0.0  # s (the node's clock) of the latest scene reset
        self._marker_lock = threading.Lock()
        group = ReentrantCallbackGroup()
        self.tf = TfListener(self, group, on_demand=True)
        self.markers = self.create_publisher(MarkerArray, "semantic_map/markers", LATCHED_QOS)
        # Frames are integrated in a worker thread, in order: subscription callbacks run in the spinning
        # thread (node_main's executor) and must not wait, and integration waits for TF.
        self._frames: queue.Queue[DetectionFrame | None] = queue.Queue(maxsize=FRAME_BACKLOG)
        self._worker = threading.Thread(target=self._integrate_frames, name="map-updates", daemon=True)
        self._worker.start()
        self.create_subscription(
            DetectionFrame, "detector/frames", self.on_frame, FRAMES_QOS, callback_group=group
        )
        if reset_topic:
            self.create_subscription(ResetScene.Response, reset_topic, self.on_scene, LATCHED_QOS)
        self.create_service(QueryMap, "query_map", self.on_query, callback_group=group)
        self.create_service(UpdateMap, "update_map", self.on_update, callback_group=group)
        self.publish_markers()
        self.get_logger().info(
            f"semantic map {self.map.store.location}: {len(self.map)} objects, version {self.map.version}"
        )

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def to_fixed(self, frame: str, stamp: float | None) -> np.ndarray:
        """4x4 from ``frame`` into the fixed frame at ``stamp``, else the latest (a pose from a static
        frame, or /tf just subscribed)."""
        frame = frame.lstrip("/") or self.frame
        if frame == self.frame:
            return np.eye(4)
        try:
            try:
                try:
                    return self.tf.lookup(self.frame, frame, stamp, self.tf_timeout)
                except UnknownFrameError:  # not heard yet: /tf_static may still be on its way
                    return self.tf.lookup(self.frame, frame, stamp, self.tf_connect_timeout)
            except ExtrapolationError:
                return self.tf.lookup(self.frame, frame, None, self.tf_timeout)
        except UnknownFrameError as exc:
            raise NotFoundError(
                f"frame {frame!r} is not connected to the map's frame {self.frame!r} in TF ({exc}); use "
                f"{self.frame!r}, the robot's {self.profile.base_frame!r}, or empty"
            ) from None

    # -- updates from the detector -------------------------------------------------------------------
    def on_frame(self, message: DetectionFrame) -> None:
        """Queue a detection call's frame for the worker (never blocks)."""
        while True:
            try:
                self._frames.put_nowait(message)
                return
            except queue.Full:
                try:
                    self._frames.get_nowait()
                    self.get_logger().warning("map updates fall behind: the oldest detection frame dropped")
                except queue.Empty:
                    pass

    def _integrate_frames(self) -> None:
        while (message := self._frames.get()) is not None:
            self.integrate(message)

    def integrate(self, message: DetectionFrame) -> None:
        """Integrate one detection call; a bad frame is logged and skipped (it never stops the node)."""
        try:
            stamp = message.header.stamp.sec + message.header.stamp.nanosec * 1e-9
            if stamp and stamp < self._scene_start:  # an image of the world before the scene's reset
                self.get_logger().info(
                    f"a detection frame from the {message.camera} camera taken before the "
                    "scene was reset skipped"
                )
                return
            base = self.to_fixed(message.header.frame_id, stamp or None)
            camera = base @ pose_to_matrix(message.camera_pose)  # the depth's optical frame
            report = self.map.integrate(messages.observation(message, base, camera))
        except (MaestroError, ValueError) as exc:
            self.get_logger().warning(f"detection frame from the {message.camera} camera skipped: {exc}")
            return
        except Exception as exc:  # a bug must not end the updates: logged with its traceback
            unexpected(self, exc, "integrating a detection frame")
            return
        if report.added or report.merged or report.decayed or report.removed:
            self.get_logger().debug(
                f"{message.camera}: +{len(report.added)} ~{len(report.merged)} -{len(report.removed)} "
                f"decayed {len(report.decayed)} hidden {len(report.hidden)}"
            )
            self.publish_markers()

    def on_scene(self, message: ResetScene.Response) -> None:
        """A new simulated scene: what the map holds is about the old one, and so are frames taken before."""
        self._scene_start = self.get_clock().now().nanoseconds * 1e-9
        removed = self.map.clear()
        if removed:
            self.get_logger().info(f"new scene ({message.task}): {len(removed)} objects forgotten")
            self.publish_markers()

    def publish_markers(self) -> None:
        with self._marker_lock:
            self.markers.publish(messages.markers(self.map.query(), self.frame))

    # -- services ------------------------------------------------------------------------------------
    @answer_errors
    def on_query(self, request: QueryMap.Request, response: QueryMap.Response) -> QueryMap.Response:
        frame = text("frame", request.frame, NAME_LIMIT).lstrip("/") or self.frame
        label = text("label", request.label, LABEL_LIMIT).strip()
        object_id = text("id", request.id, NAME_LIMIT)
        into = invert(self.to_fixed(frame, None)) if frame != self.frame else None
        center = None
        if request.use_region:
            vector("center", request.center)
            number("radius", request.radius, 0.0, 100.0, unit=" m")
            local = np.array([request.center.x, request.center.y, request.center.z, 1.0])
            center = (invert(into) @ local)[:3] if into is not None else local[:3]
        found = self.map.query(label, object_id, center, float(request.radius))
        if request.use_box:
            vector("box_min", request.box_min)
            vector("box_max", request.box_max)
            low = np.array([request.box_min.x, request.box_min.y, request.box_min.z])
            high = np.array([request.box_max.x, request.box_max.y, request.box_max.z])
            if np.any(low > high):
                raise InvalidArgumentError(
                    f"box_min {low.tolist()} must be <= box_max {high.tolist()} per axis"
                )
            found = [e for e in found if self._inside(e.position, into, low, high)]
        response.known_labels = self.map.labels()
        response.version = self.map.version
        now = self.now()
        response.stamp = seconds_to_time(now)
        response.objects = [messages.to_map_object(e, frame, into) for e in found]
        shown = [self._expressed(e, into) for e in found] if into is not None else found
        response.description = describe(shown, now, frame)
        if (label or object_id) and not found:
            what = f"label {label!r}" if label else f"id {object_id!r}"
            raise NotFoundError(
                f"no object with {what} in the map (of the filters given); known labels: "
                f"{', '.join(response.known_labels) or 'none (the map is empty)'}"
            )
        response.success = True
        response.message = f"{len(found)} of {len(self.map)} object(s)"
        return response

    @staticmethod
    def _inside(position: np.ndarray, into: np.ndarray | None, low: np.ndarray, high: np.ndarray) -> bool:
        p = position if into is None else into[:3, :3] @ position + into[:3, 3]
        return bool(np.all(p >= low) and np.all(p <= high))

    @staticmethod
    def _expressed(entry: MapEntry, into: np.ndarray) -> MapEntry:
        return replace(entry, position=into[:3, :3] @ entry.position + into[:3, 3])

    @answer_errors
    def on_update(self, request: UpdateMap.Request, response: UpdateMap.Response) -> UpdateMap.Response:
        if request.from_cameras:
            raise InvalidArgumentError(
                "from_cameras is not served here: the map follows every detect call (the detector "
                "publishes on detector/frames); call detect on the cameras instead"
            )
        items("upserts", request.upserts, MAX_UPSERTS)
        for k, obj in enumerate(request.upserts):
            text(f"upserts[{k}].label", obj.label, LABEL_LIMIT, required=True, example="tennis ball")
            text(f"upserts[{k}].id", obj.id, NAME_LIMIT)
            check_pose(f"upserts[{k}].pose", obj.pose)
            vector(f"upserts[{k}].extent", obj.extent, 0.0, 100.0, " m")
            number(f"upserts[{k}].confidence", obj.confidence, 0.0, 1.0, note="0 = 1")
        if request.clear:
            self.map.clear()
        elif request.remove_ids:
            self.map.remove(list(request.remove_ids))  # NotFoundError names the known ids
        now = self.now()
        response.ids = [
            self.map.upsert(messages.from_map_object(obj, self.to_fixed(obj.header.frame_id, None), now))
            for obj in request.upserts
        ]
        response.size = len(self.map)
        response.success = True
        response.message = f"{len(response.ids)} upserted; {len(self.map)} object(s) in the map"
        self.publish_markers()
        return response

    def close(self) -> None:
        with contextlib.suppress(queue.Full):
            self._frames.put(None, timeout=1.0)  # after the frames already queued
        self._worker.join(timeout=5.0)
        self.map.close()


def main(args: Sequence[str] | None = None) -> int:
    return run_node(SemanticMapperNode, args)


if __name__ == "__main__":
    sys.exit(main())
