"""Furniture from the semantic map as keep-out footprints in the navigation grid.

The depth camera loses what it cannot see from close by: a table top above the camera's view once the
base is next to it, leaving only thin legs in the grid, so a path may run under the top's edge. The
semantic map remembers each piece of furniture's box from every view (``mapping/furniture.py``); its
footprint, where the box spans the robot's height band, is an obstacle the grid keeps. Plain numpy here;
``MapObstacleSource`` asks the mapper (maestro_msgs/srv/QueryMap) without blocking the control loop.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node
from rclpy.task import Future

from maestro_msgs.srv import QueryMap
from maestro_tools.common.conversions import pose_to_matrix


@dataclass(frozen=True, eq=False)  # compared by identity: a refresh makes new ones
class Footprint:
    """An oriented rectangle on the floor: centre (x, y), unit axes (2x2, columns) and half sides."""

    label: str
    centre: np.ndarray
    axes: np.ndarray
    half: np.ndarray

    def contains(self, xy: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Which of the (N, 2) points lie inside, grown by ``margin`` m."""
        local = (np.asarray(xy, dtype=np.float64).reshape(-1, 2) - self.centre) @ self.axes
        return np.all(np.abs(local) <= self.half + margin, axis=1)


@dataclass(frozen=True)
class MapObstacleConfig:
    enabled: bool = True
    service: str = "query_map"  # the semantic mapper's QueryMap
    min_size: float = 0.25  # m: objects at least this large (furniture) are kept out
    ignore: tuple[str, ...] = ("door",)  # labels never kept out (a door opens: its box goes stale)
    period: float = 2.0  # s between queries while a goal runs


def footprints(
    objects: Sequence[tuple[str, np.ndarray, np.ndarray]],
    floor: float,
    band: tuple[float, float],
    config: MapObstacleConfig,
) -> list[Footprint]:
    """Footprints of the (label, 4x4 pose, extent) boxes that are furniture and span the height band
    (``band`` m above ``floor``: what the robot's body meets)."""
    kept = []
    for label, pose, extent in objects:
        words = set(label.lower().split())
        if max(extent) < config.min_size or any(set(i.split()) <= words for i in config.ignore):
            continue
        corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) * extent / 2
        world = corners @ pose[:3, :3].T + pose[:3, 3]
        low, high = world[:, 2].min() - floor, world[:, 2].max() - floor
        if high < band[0] or low > band[1]:
            continue
        yaw = float(np.arctan2(pose[1, 0], pose[0, 0]))
        axes = np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]])
        # The footprint of the (possibly tilted) box along its own yaw.
        local = (world[:, :2] - pose[:2, 3]) @ axes
        kept.append(Footprint(label, pose[:2, 3].copy(), axes, np.abs(local).max(axis=0)))
    return kept


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
