"""The yolo backend's conversion and lifting with a stand-in for an ultralytics model (ultralytics and its
weights are an optional extra, never installed in CI), and its message when ultralytics is missing."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest

from maestro_tools.common.errors import NotFoundError, UnavailableError
from maestro_tools.perception.objects import detect_objects
from maestro_tools.perception.yolo_backend import YoloDetector, load_model
from maestro_tools.sim.world import SimWorld
from test.sim.test_modules import frame


class FakeUltralyticsModel:
    """Answers like ultralytics' YOLO-World: ``set_classes`` then ``predict`` -> [Results with .boxes]."""

    def __init__(self, boxes: list[tuple[list[float], int, float]]) -> None:
        self.boxes, self.classes = boxes, []

    def set_classes(self, classes: list[str]) -> None:
        self.classes = classes

    def predict(self, bgr: np.ndarray, conf: float, verbose: bool) -> list[SimpleNamespace]:
        kept = [b for b in self.boxes if b[2] >= conf]
        tensor = SimpleNamespace
        boxes = SimpleNamespace(
            xyxy=tensor(tolist=lambda: [b[0] for b in kept]),
            cls=tensor(tolist=lambda: [b[1] for b in kept]),
            conf=tensor(tolist=lambda: [b[2] for b in kept]),
        )
        return [SimpleNamespace(boxes=boxes)]


@pytest.fixture(scope="module")
def scene():
    world = SimWorld()
    world.reset("clean_table", 0)
    yield frame(world, "scene")
    world.close()


def test_boxes_become_3d_detections_sorted_by_score(scene) -> None:
    truth = {d.label: d for d in detect_objects(scene, ["red block", "blue cube"])}
    xyxy = {k: [d.box[0], d.box[1], d.box[0] + d.box[2], d.box[1] + d.box[3]] for k, d in truth.items()}
    model = FakeUltralyticsModel(
        [(xyxy["blue cube"], 1, 0.6), (xyxy["red block"], 0, 0.9), ([0, 0, 5, 5], 0, 0.1)]
    )
    found = YoloDetector(model).detect(scene, ["red block", "blue cube"])
    assert model.classes == ["red block", "blue cube"]
    assert [d.label for d in found] == ["red block", "blue cube"]  # the 0.1 box is under the threshold
    for detection in found:
        assert np.linalg.norm(detection.pose[:2, 3] - truth[detection.label].pose[:2, 3]) < 0.02
    with pytest.raises(NotFoundError, match="lower min_score"):
        YoloDetector(FakeUltralyticsModel([])).detect(scene, ["mug"])


@pytest.mark.skipif(importlib.util.find_spec("ultralytics") is not None, reason="ultralytics is installed")
def test_without_ultralytics_the_error_says_how_to_install_it() -> None:
    with pytest.raises(UnavailableError, match=r"pip install -e '\.\[yolo\]'"):
        load_model("weights.pt")
