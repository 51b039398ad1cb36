"""Open-vocabulary detection with ultralytics (YOLO-World / YOLOE) for real robots, lifted to 3D with depth.

Optional: ``pip install -e .[yolo]`` pulls ultralytics and a CUDA torch, and the weights file comes from
the deployment (the ``weights`` parameter), never from a hub at run time. Not installed or run in CI.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError, NoDataError, NotFoundError, UnavailableError
from maestro_tools.perception.gemini_vision import lift_box
from maestro_tools.perception.objects import CameraFrame, ObjectDetection


def load_model(weights: str) -> Any:
    """An ultralytics open-vocabulary model from a local weights file."""
    try:
        from ultralytics import YOLO
    except ImportError:
        raise UnavailableError(
            "the yolo backend needs ultralytics: pip install -e '.[yolo]' (it pulls torch), "
            "or use backend sim, geometric or gemini"
        ) from None
    path = Path(weights).expanduser()
    if not path.is_file():
        raise InvalidArgumentError(
            f"YOLO weights {str(path)!r} not found; set the detector's 'weights' parameter to a local "
            "YOLO-World or YOLOE .pt file (nothing is downloaded at run time)"
        )
    return YOLO(str(path))


class YoloDetector:
    def __init__(self, model: Any, min_score: float = 0.25) -> None:
        self.model, self.min_score = model, min_score
        self._classes: tuple[str, ...] = ()

    def detect(
        self, frame: CameraFrame, labels: Sequence[str], min_score: float = 0.0
    ) -> list[ObjectDetection]:
        if not labels:
            raise InvalidArgumentError("the yolo backend needs the labels to look for, e.g. ['mug', 'bowl']")
        if not np.isfinite(frame.depth).any():
            raise NoDataError(f"the {frame.camera} camera's depth image is empty; try the other camera")
        if tuple(labels) != self._classes:  # open vocabulary: the prompt is the class list
            self.model.set_classes(list(labels))
            self._classes = tuple(labels)
        threshold = min_score or self.min_score
        (result,) = self.model.predict(frame.rgb[:, :, ::-1], conf=threshold, verbose=False)
        found = []
        for (x0, y0, x1, y1), cls, score in zip(
            result.boxes.xyxy.tolist(), result.boxes.cls.tolist(), result.boxes.conf.tolist(), strict=True
        ):
            box = (int(x0), int(y0), max(1, int(x1 - x0)), max(1, int(y1 - y0)))
            detection = lift_box(frame, labels[int(cls)], box)
            found.append(
                ObjectDetection(
                    detection.label,
                    0,
                    float(score),
                    box,
                    detection.mask,
                    detection.points,
                    detection.pose,
                    detection.extent,
                )
            )
        if not found:
            raise NotFoundError(
                f"no {', '.join(labels)} above score {threshold} in the {frame.camera} camera; "
                "try the other camera or a lower min_score"
            )
        return sorted(found, key=lambda d: -d.score)
