"""The sim detector's matching of requested labels to instances, on a synthetic camera frame."""

from __future__ import annotations

import numpy as np
import pytest

from maestro_tools.common.errors import NotFoundError
from maestro_tools.perception.objects import CameraFrame, detect_objects, match_label


def frame_with(blobs: dict[int, tuple[slice, slice]], labels: dict[int, str]) -> CameraFrame:
    instances = np.zeros((60, 80), dtype=np.int32)
    for instance, (rows, cols) in blobs.items():
        instances[rows, cols] = instance
    k = np.array([[100.0, 0.0, 40.0], [0.0, 100.0, 30.0], [0.0, 0.0, 1.0]])
    return CameraFrame(
        "scene",
        np.zeros((60, 80, 3), np.uint8),
        np.ones((60, 80), np.float32),
        instances,
        labels,
        k,
        np.eye(4),
        0.0,
    )


def test_a_label_two_instances_share_gives_both_the_most_visible_first() -> None:
    # LIBERO's two "akita black bowl"s: one label, two instances.
    frame = frame_with(
        {
            1: (slice(5, 15), slice(5, 15)),
            2: (slice(20, 40), slice(40, 60)),
            3: (slice(45, 55), slice(5, 25)),
        },
        {1: "akita black bowl", 2: "akita black bowl", 3: "plate"},
    )
    bowls = detect_objects(frame, ["black bowl"])
    assert [d.instance_id for d in bowls] == [2, 1] and {d.label for d in bowls} == {"black bowl"}
    assert bowls[0].pose[0, 3] > 0 > bowls[1].pose[0, 3]  # each its own points (right and left of centre)
    assert sorted(d.instance_id for d in detect_objects(frame, [])) == [1, 2, 3]
    assert match_label("bowl", ["akita black bowl", "akita black bowl", "plate"]) == "akita black bowl"
    with pytest.raises(NotFoundError, match="visible: akita black bowl, akita black bowl, plate"):
        detect_objects(frame, ["ramekin"])


def test_words_naming_two_different_labels_match_neither() -> None:
    assert match_label("bowl", ["black bowl", "white bowl"]) is None
