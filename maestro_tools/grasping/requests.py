"""PlanGrasp requests checked field by field before any planning (plain Python on the messages)."""

from __future__ import annotations

from typing import Any

from maestro_tools.common.errors import OutOfLimitsError
from maestro_tools.common.validate import LABEL_LIMIT, NAME_LIMIT, count, frame, number, pose, text, vector

MAX_GRASPS = 100
MAX_CLOUD_POINTS = 1_000_000


def check_detection(detection: Any, base_frame: str, field: str = "detection") -> None:
    """A maestro_msgs/Detection as ``detect`` returns it: 3D data finite and in the base frame."""
    text(f"{field}.label", detection.label, LABEL_LIMIT)
    text(f"{field}.camera", detection.camera, NAME_LIMIT)
    number(f"{field}.score", detection.score, 0.0, 1.0)
    pose(f"{field}.pose", detection.pose, orientation=detection.has_3d)
    vector(f"{field}.extent", detection.extent, 0.0, unit=" m")
    if detection.has_3d:
        frame(f"{field}.header.frame_id", detection.header.frame_id, base_frame)


def check_request(request: Any, base_frame: str, max_opening: float) -> None:
    """Refuse a malformed PlanGrasp request, naming the field, its value and the valid values."""
    text("label", request.label, LABEL_LIMIT)
    check_detection(request.detection, base_frame)
    points = request.cloud.width * request.cloud.height
    if points > MAX_CLOUD_POINTS:
        count("cloud.width * cloud.height", points, MAX_CLOUD_POINTS)
    if points:
        frame("cloud.header.frame_id", request.cloud.header.frame_id, base_frame)
    count("max_grasps", request.max_grasps, MAX_GRASPS, note="0 = the node's default")
    number(
        "max_width",
        request.max_width,
        0.0,
        max_opening,
        unit=" m",
        note="0 = the gripper's maximum opening",
        error=OutOfLimitsError,
    )
