"""VLM perception backends (Gemini boxes and points) on rendered sim frames, the model a fake server."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maestro_tools.common.errors import NotFoundError
from maestro_tools.perception.gemini_vision import VLMVision, parse_boxes, parse_points
from maestro_tools.perception.objects import detect_objects
from maestro_tools.sim.world import SimWorld
from maestro_tools.vlm.gemini import GeminiVLM
from test.fakes.gemini_server import FakeGeminiServer
from test.sim.test_modules import frame


@pytest.fixture(scope="module")
def world() -> SimWorld:
    sim = SimWorld()
    sim.reset("clean_table", 0)
    yield sim
    sim.close()


def test_boxes_and_points_parse_y_first_and_drop_malformed_entries() -> None:
    text = """Here you go:
```json
[{"box_2d": [100, 200, 300, 500], "label": "red block"},
 {"box_2d": [300, 200, 100, 500], "label": "inverted"},
 {"box_2d": [10, 20, 30, 1400], "label": "pixels, not 0-1000"},
 {"box_2d": [1, 2, 3], "label": "short"}]
```"""
    assert parse_boxes(text, 640, 480) == [("red block", (128, 48, 192, 96))]
    assert parse_points('[{"point": [500, 250], "label": "handle"}, {"point": ["a", 1]}]', 640, 480) == [
        ("handle", (160.0, 240.0))
    ]


def _truth_box(scene_frame, label: str) -> list[int]:
    (truth,) = detect_objects(scene_frame, [label])
    x, y, w, h = truth.box
    height, width = scene_frame.rgb.shape[:2]
    return [
        round(y / height * 1000),
        round(x / width * 1000),
        round((y + h) / height * 1000),
        round((x + w) / width * 1000),
    ], truth


def test_a_gemini_box_is_lifted_to_the_objects_3d_position(world: SimWorld) -> None:
    scene = frame(world, "scene")
    box, truth = _truth_box(scene, "red block")
    with FakeGeminiServer() as server:
        server.reply(json.dumps([{"box_2d": box, "label": "red block"}]))
        vision = VLMVision(GeminiVLM(api_key="k", base_url=server.url, retries=0, timeout_s=10))
        (found,) = vision.detect(scene, ["red block"])
        sent = server.requests[0].body
    assert found.label == "red block" and found.has_3d
    assert np.linalg.norm(found.pose[:3, 3] - truth.pose[:3, 3]) < 0.02, (
        found.pose[:3, 3],
        truth.pose[:3, 3],
    )
    assert "red block" in json.dumps(sent) and "box_2d" in json.dumps(sent)


def test_a_gemini_point_is_lifted_onto_the_object_and_nothing_found_is_an_error(world: SimWorld) -> None:
    scene = frame(world, "scene")
    box, truth = _truth_box(scene, "blue cube")
    centre = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]
    with FakeGeminiServer() as server:
        server.reply(f'```json\n[{{"point": {centre}, "label": "blue cube"}}]\n```')
        server.reply("[]")
        vision = VLMVision(GeminiVLM(api_key="k", base_url=server.url, retries=0, timeout_s=10))
        ((label, _, position),) = vision.point(scene, "the top of the blue cube")
        with pytest.raises(NotFoundError, match="no 'the mug handle'"):
            vision.point(scene, "the mug handle")
    assert label == "blue cube"
    assert np.linalg.norm(position[:2] - truth.pose[:2, 3]) < 0.02
