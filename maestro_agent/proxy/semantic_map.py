"""``semantic_map``: what the robot has seen so far, where, and how sure it is (the semantic mapper node)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from geometry_msgs.msg import Point

from maestro_agent.proxy.harness import Harness, tool
from maestro_agent.proxy.perception import Perception
from maestro_agent.proxy.registry import register_tool
from maestro_agent.proxy.ros_client import RosClient
from maestro_agent.proxy.types import MappedObject
from maestro_msgs.srv import QueryMap, UpdateMap
from maestro_tools.common.conversions import pose_to_matrix
from maestro_tools.common.errors import InvalidArgumentError, MaestroError, NotFoundError
from maestro_tools.common.tf import stamp_seconds

QUERY_TIMEOUT_S = 5.0


def _label(label: object) -> str:
    if not isinstance(label, str) or not label.strip():
        raise InvalidArgumentError(f"label must be a non-empty string such as 'tennis ball'; got {label!r}")
    return label.strip()


class SemanticMap:
    """Memory of the objects the cameras have seen (every detection updates it), in the base frame: it still
    knows objects that are hidden now (behind the arm, out of view), and forgets objects that are in plain
    view but no longer detected. Results: MappedObject(id, label, position, extent, rotation, confidence
    0..1, observations, age = seconds since last seen, camera). Positions are memories: detect again before
    grasping."""

    module = "semantic_map"

    def __init__(self, ros: RosClient | None, harness: Harness) -> None:
        self._ros, self._harness = ros, harness
        self._frame = harness.robot.base_frame
        if ros is not None:
            self._query = ros.service(QueryMap, "query_map")
            self._update = ros.service(UpdateMap, "update_map")

    def _ask(self, frame: str = "", **fields: object) -> QueryMap.Response:
        request = QueryMap.Request(frame=frame or self._frame, **fields)
        return self._ros.call(self._query, request, QUERY_TIMEOUT_S)

    @staticmethod
    def _objects(response: QueryMap.Response) -> list[MappedObject]:
        now = stamp_seconds(response.stamp) or 0.0
        out = []
        for o in response.objects:
            pose = pose_to_matrix(o.pose)
            out.append(
                MappedObject(
                    id=o.id,
                    label=o.label,
                    position=pose[:3, 3].copy(),
                    extent=np.array([o.extent.x, o.extent.y, o.extent.z]),
                    rotation=pose[:3, :3].copy(),
                    confidence=float(o.confidence),
                    observations=int(o.observations),
                    age=max(0.0, now - (stamp_seconds(o.last_seen) or now)),
                    camera=o.camera,
                )
            )
        return out

    @tool("semantic_map")
    def find(self, label: str) -> list[MappedObject]:
        """The remembered objects ``label`` names (by words: "ball" finds "tennis ball"), most confident
        first. NotFoundError lists the labels the map knows."""
        return self._objects(self._ask(label=_label(label)))

    @tool("semantic_map")
    def near(self, point: Sequence[float], radius: float = 0.1) -> list[MappedObject]:
        """The remembered objects within ``radius`` metres of ``point`` [x, y, z] (base frame), nearest first;
        an empty list when there are none."""
        try:
            center = np.asarray(point, dtype=float).reshape(3)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"point must be [x, y, z] in metres; got {point!r}") from None
        if not np.isfinite(center).all() or not (isinstance(radius, int | float) and 0 < radius <= 10):
            raise InvalidArgumentError(
                f"point must be finite and radius in (0, 10] m; got {point!r}, {radius!r}"
            )
        x, y, z = (float(c) for c in center)
        response = self._ask(use_region=True, center=Point(x=x, y=y, z=z), radius=float(radius))
        return self._objects(response)

    def _remembered(self) -> list[MappedObject]:
        """Every remembered object (base frame); not a tool of its own (``describe`` is)."""
        return self._objects(self._ask())

    def _remembered_in(self, frame: str) -> list[MappedObject]:
        """Every remembered object with positions in ``frame``; not a tool of its own."""
        return self._objects(self._ask(frame))

    def _find_in(self, label: str, frame: str) -> list[MappedObject]:
        """``find`` with positions in ``frame`` (for the base tool: the map); not a tool of its own."""
        return self._objects(self._ask(frame, label=_label(label)))

    @tool("semantic_map")
    def describe(self) -> str:
        """Every remembered object, one line each (label, position, size, confidence, when and by which camera
        it was last seen), as the planning prompt shows it."""
        return self._ask().description

    @tool("semantic_map")
    def forget(self, label: str) -> int:
        """Remove the remembered objects ``label`` names (e.g. after the object was thrown away); returns how
        many were removed (0 when the map knew none)."""
        try:
            found = self._ask(label=_label(label)).objects
        except NotFoundError:
            return 0
        self._ros.call(self._update, UpdateMap.Request(remove_ids=[o.id for o in found]), QUERY_TIMEOUT_S)
        return len(found)

    def _boxes(self, label: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """For pick when no camera sees ``label``: the remembered boxes' poses (4x4, base frame) and
        extents, most confident first (none when it knows none or cannot be asked; this never raises)."""
        try:
            found = self._objects(self._ask(label=label))
        except MaestroError:
            return []
        boxes = []
        for o in found:
            pose = np.eye(4)
            pose[:3, :3], pose[:3, 3] = o.rotation, o.position
            boxes.append((pose, np.asarray(o.extent, dtype=float)))
        return boxes

    def _recall(self, labels: Sequence[str]) -> str:
        """For a failed detection: where the map last saw each of ``labels`` ("" when it knows none of them
        or cannot be asked; this never raises)."""
        notes = []
        for label in labels:
            try:
                best = self._objects(self._ask(label=label))[0]
            except (MaestroError, IndexError):
                continue
            at = ", ".join(f"{c:.3f}" for c in best.position)
            notes.append(
                f"not visible now, but the semantic map last saw {best.label!r} at [{at}] "
                f"({self._frame} frame) {_ago(best.age)} ago from the {best.camera} camera (confidence "
                f"{best.confidence:.2f}; it may be hidden: look from another camera or move the arm away)"
            )
        return "; ".join(notes)


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{round(seconds)} s"
    return f"{seconds / 60:.0f} min"


def _build(ros: RosClient | None, harness: Harness, built: dict[str, object]) -> SemanticMap:
    tool_ = SemanticMap(ros, harness)
    perception = built.get("perception")
    if ros is not None and isinstance(perception, Perception):
        perception.recall = tool_._recall  # a failed detection says where the map last saw the object
        perception.remember = tool_._boxes  # and pick looks there with the hand camera
    return tool_


register_tool("semantic_map", ("cameras", "semantic_map"), _build, group="S1")
