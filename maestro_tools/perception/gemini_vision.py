"""Detection boxes and points from a VLM in the Gemini robotics conventions, lifted to 3D with depth.

The model answers JSON: boxes ``[{"box_2d": [ymin, xmin, ymax, xmax], "label": ...}]`` and points
``[{"point": [y, x], "label": ...}]``, normalised to 0-1000 with y first. Models sometimes return x
first or pixels; entries outside 0-1000 or inverted are dropped (and named in the log) rather than
guessed, and every result is rendered back by the caller for checking. The backend is any
``maestro_tools.vlm`` VLM (Gemini by default; an OpenAI-compatible model works if it follows the format).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from maestro_tools.common.errors import BackendError, InvalidArgumentError, NoDataError, NotFoundError
from maestro_tools.perception.objects import CameraFrame, ObjectDetection, lift_point, object_box
from maestro_tools.vlm.base import VLM, Message, VLMRequest
from maestro_tools.vlm.markdown import loads_lenient

log = logging.getLogger(__name__)
SYSTEM = "You are a precise robotics perception model. Answer only with the JSON requested."
BOX_PROMPT = (
    "Detect {what} in the image. Answer a JSON list, one entry per object: "
    '[{{"box_2d": [ymin, xmin, ymax, xmax], "label": "<name>"}}] with coordinates normalised to 0-1000. '
    "Use the names asked for. At most {limit} entries; [] if none is visible."
)
POINT_PROMPT = (
    "Point to {what} in the image. Answer a JSON list: "
    '[{{"point": [y, x], "label": "<what it is>"}}] with coordinates normalised to 0-1000. '
    "At most {limit} points, best first; [] if not visible."
)


def _json_list(text: str) -> list[Any]:
    match = re.search(r"\[.*\]", text, re.DOTALL)
    if match is None:
        raise BackendError(f"the model's answer has no JSON list: {text[:200]!r}")
    try:
        data = loads_lenient(match.group(0))
    except ValueError as exc:
        raise BackendError(f"the model's answer is not valid JSON ({exc}): {text[:200]!r}") from None
    return data if isinstance(data, list) else []


def _normalised(values: Any, count: int) -> list[float] | None:
    if not isinstance(values, list | tuple) or len(values) != count:
        return None
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    return numbers if all(0.0 <= v <= 1000.0 for v in numbers) else None


def parse_boxes(text: str, width: int, height: int) -> list[tuple[str, tuple[int, int, int, int]]]:
    """(label, (x, y, w, h) pixels) for every well-formed ``box_2d`` entry; malformed ones are dropped."""
    found = []
    for entry in _json_list(text):
        box = _normalised(entry.get("box_2d") if isinstance(entry, dict) else None, 4)
        if box is None or box[0] >= box[2] or box[1] >= box[3]:
            log.warning("dropped a malformed box from the model: %r", entry)
            continue
        ymin, xmin, ymax, xmax = box
        x0, y0 = round(xmin / 1000 * width), round(ymin / 1000 * height)
        x1, y1 = round(xmax / 1000 * width), round(ymax / 1000 * height)
        found.append((str(entry.get("label", "")), (x0, y0, max(1, x1 - x0), max(1, y1 - y0))))
    return found


def parse_points(text: str, width: int, height: int) -> list[tuple[str, tuple[float, float]]]:
    """(label, (u, v) pixels) for every well-formed ``point`` entry ([y, x], 0-1000)."""
    found = []
    for entry in _json_list(text):
        point = _normalised(entry.get("point") if isinstance(entry, dict) else None, 2)
        if point is None:
            log.warning("dropped a malformed point from the model: %r", entry)
            continue
        found.append((str(entry.get("label", "")), (point[1] / 1000 * width, point[0] / 1000 * height)))
    return found


def lift_box(
    frame: CameraFrame, label: str, box: tuple[int, int, int, int], support_height: float = 0.0
) -> ObjectDetection:
    """The object in ``box``: the box's depth points above the support surface (the table top is z = 0 in
    the base frame), as a mask, points, pose and extent."""
    x, y, w, h = box
    mask = np.zeros(frame.depth.shape, bool)
    mask[max(0, y) : y + h, max(0, x) : x + w] = True
    points = frame.base_points(mask)
    points = points[points[:, 2] > support_height + 0.005] if len(points) else points
    pose, extent = object_box(points) if len(points) >= 3 else (np.eye(4), np.zeros(3))
    return ObjectDetection(label, 0, 1.0, box, mask, points, pose, extent)


class VLMVision:
    """Boxes and points from a VLM (``maestro_tools.vlm``), lifted to 3D with the frame's depth."""

    def __init__(self, vlm: VLM, max_objects: int = 10) -> None:
        self.vlm, self.max_objects = vlm, max_objects

    def _ask(self, prompt: str, image: np.ndarray) -> str:
        request = VLMRequest(SYSTEM, (Message("user", (image, prompt)),), "perceive", prompt)
        return self.vlm.generate(request).text

    def detect(self, frame: CameraFrame, labels: Sequence[str]) -> list[ObjectDetection]:
        if not np.isfinite(frame.depth).any():
            raise NoDataError(f"the {frame.camera} camera's depth image is empty; try the other camera")
        what = ", ".join(labels) if labels else "every object on the table"
        height, width = frame.rgb.shape[:2]
        answer = self._ask(BOX_PROMPT.format(what=what, limit=self.max_objects), frame.rgb)
        boxes = parse_boxes(answer, width, height)
        if labels:
            wanted = {label.lower() for label in labels}
            boxes = [
                (label if label.lower() in wanted else labels[0] if len(labels) == 1 else label, box)
                for label, box in boxes
            ]
        if not boxes:
            raise NotFoundError(
                f"the model sees no {what} in the {frame.camera} camera; try the other camera"
            )
        return [lift_box(frame, label, box) for label, box in boxes[: self.max_objects]]

    def point(
        self, frame: CameraFrame, description: str, max_points: int = 1
    ) -> list[tuple[str, tuple[float, float], np.ndarray]]:
        if not description.strip():
            raise InvalidArgumentError("description is empty; say what to point at, e.g. 'the mug handle'")
        height, width = frame.rgb.shape[:2]
        answer = self._ask(POINT_PROMPT.format(what=description, limit=max(1, max_points)), frame.rgb)
        points = parse_points(answer, width, height)[: max(1, max_points)]
        if not points:
            raise NotFoundError(f"the model found no {description!r} in the {frame.camera} camera")
        return [(label or description, pixel, lift_point(frame, pixel)) for label, pixel in points]
