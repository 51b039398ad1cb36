"""Object correspondences for policies that ask for them (the warp policy): the detector's objects as
``{label: xyz}`` in the robot's base frame, sent as ``observation/object_positions``.

A policy asks through its metadata: ``requires`` lists the observation keys it needs beyond its format.
Which objects: the bridge's ``object_labels`` parameter, or (empty, the default) everything the detector
can name in the ``objects_camera`` image (Detect with no labels). The instruction's nouns are not used:
a paraphrase or another item (the new_object axis) would miss, and the warp policy matches roles itself.
Positions are taken once when a goal starts and refreshed every ``objects_refresh`` s (0 = never): a
label the refresh misses (occluded by the arm) keeps its last position.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from maestro_msgs.srv import Detect
from maestro_tools.common.errors import NotFoundError, error_from_code
from maestro_tools.vla.mapping import OBJECTS_KEY


def requested_keys(metadata: Mapping[str, Any]) -> frozenset[str]:
    """The observation keys a policy's metadata says it needs besides its format (``requires``)."""
    keys = metadata.get("requires", ())
    if isinstance(keys, str):
        keys = (keys,)
    return frozenset(str(k) for k in keys) if isinstance(keys, Sequence) else frozenset()


def needs_objects(metadata: Mapping[str, Any]) -> bool:
    return OBJECTS_KEY in requested_keys(metadata)


def positions(response: Any) -> dict[str, np.ndarray]:
    """{label: xyz} from a Detect response: the best-scoring 3D detection of each label."""
    if not response.success:
        raise error_from_code(response.error_code, f"detect: {response.message}")
    found: dict[str, np.ndarray] = {}
    for detection in response.detections:  # best first
        if detection.has_3d and detection.label not in found:
            p = detection.pose.position
            found[detection.label] = np.array([p.x, p.y, p.z], dtype=np.float64)
    return found


class ObjectTracker:
    """One goal's object positions: ``detect`` (labels, camera) -> Detect response, called at most every
    ``refresh`` s (0 = once)."""

    def __init__(self, detect: Any, labels: Sequence[str], camera: str, refresh: float = 0.0) -> None:
        self.detect, self.labels, self.camera, self.refresh = detect, list(labels), camera, refresh
        self.objects: dict[str, np.ndarray] = {}
        self._at: float | None = None

    def current(self) -> dict[str, np.ndarray]:
        """The positions; the first call must find something (NotFoundError names what was asked)."""
        now = time.monotonic()
        if self._at is None or (self.refresh > 0 and now - self._at >= self.refresh):
            self._at = now
            seen = positions(self.detect(Detect.Request(labels=self.labels, camera=self.camera)))
            self.objects.update(seen)
            if not self.objects:
                asked = ", ".join(self.labels) or "anything the detector can name"
                raise NotFoundError(
                    f"the policy needs object positions but the {self.camera} camera saw none ({asked})"
                )
        return self.objects
