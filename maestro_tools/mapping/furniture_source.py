"""The semantic map's objects for a node that keeps clear of furniture (the navigation's grid, the motion's
arm): ``MapObstacleSource`` asks the mapper (maestro_msgs/srv/QueryMap) every ``period`` s without blocking
the caller, and keeps the last answer as (label, 4x4 pose, extent) boxes in one frame."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node
from rclpy.task import Future

from maestro_msgs.srv import QueryMap
from maestro_tools.common.conversions import pose_to_matrix
from maestro_tools.common.params import declare


@dataclass(frozen=True)
class MapObstacleConfig:
    enabled: bool = True
    service: str = "query_map"  # the semantic mapper's QueryMap
    min_size: float = 0.25  # m: objects at least this large (furniture) are kept out
    ignore: tuple[str, ...] = ("door",)  # labels never kept out (a door opens: its box goes stale)
    period: float = 2.0  # s between queries while a goal runs

    def keeps(self, label: str, extent: np.ndarray) -> bool:
        """Whether a mapped object is furniture to keep clear of: at least ``min_size`` across, and no
        ``ignore`` label's words all among its label's."""
        words = set(label.lower().split())
        return max(extent) >= self.min_size and not any(set(i.split()) <= words for i in self.ignore)


def declare_map_obstacles(node: Node, enabled: bool, description: str) -> MapObstacleConfig:
    """The node's parameters for the map's furniture: ``map_obstacles`` (``description``), the service,
    the size that makes an object furniture, the labels left out and the query period."""
    ignore = declare(
        node,
        "map_obstacle_ignore",
        ["door"],
        "Labels never kept out (a door opens, and its mapped box goes stale); [''] = none",
    )
    return MapObstacleConfig(
        enabled=declare(node, "map_obstacles", enabled, description),
        service=declare(node, "map_service", "query_map", "The semantic mapper's QueryMap service"),
        min_size=declare(
            node,
            "map_obstacle_min_size",
            0.25,
            "Mapped objects this large are furniture, m",
            minimum=0.05,
            maximum=10.0,
        ),
        ignore=tuple(label for label in ignore if label),
        period=declare(
            node, "map_period", 2.0, "Seconds between queries of the map", minimum=0.1, maximum=60.0
        ),
    )


class MapObstacleSource:
    """The mapper's furniture, refreshed every ``period`` s on request; never blocks the caller."""

    def __init__(self, node: Node, group: CallbackGroup, frame: str, config: MapObstacleConfig) -> None:
        self.node, self.frame, self.config = node, frame, config
        self._client = None
        if config.enabled:
            self._client = node.create_client(QueryMap, config.service, callback_group=group)
        self._lock = threading.Lock()
        self._objects: list[tuple[str, np.ndarray, np.ndarray]] = []
        self._asked_at = -np.inf
        self._pending = False
        self._version = 0

    def refresh(self, now: float) -> None:
        """Ask the mapper again when ``period`` s have passed and no question is open."""
        client = self._client
        if client is None or self._pending or now - self._asked_at < self.config.period:
            return
        self._asked_at = now
        if not client.service_is_ready():
            return
        self._pending = True
        client.call_async(QueryMap.Request(frame=self.frame)).add_done_callback(self._answered)

    def _answered(self, future: Future) -> None:
        self._pending = False
        response = future.result() if not future.cancelled() and future.exception() is None else None
        if response is None:  # an empty map answers NOT_FOUND with no objects: nothing kept out
            return
        objects = [
            (o.label, pose_to_matrix(o.pose), np.array([o.extent.x, o.extent.y, o.extent.z]))
            for o in response.objects
        ]
        with self._lock:
            self._objects = objects
            self._version += 1

    @property
    def version(self) -> int:
        return self._version

    def objects(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        with self._lock:
            return list(self._objects)
