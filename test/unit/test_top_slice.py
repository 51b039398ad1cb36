"""The narrow top of an object too wide to grasp whole (plain numpy): a bear's head above its arms, and
the planner's fallback to it when the whole object's grasps are out of reach."""

from __future__ import annotations

import numpy as np
import pytest

from maestro_tools.common.errors import CollisionError
from maestro_tools.grasping.parts import top_slice
from maestro_tools.grasping.proposals import usable_or_narrow
from maestro_tools.grasping.top_down import GraspCandidate


def sphere(centre, radius: float, count: int, rng: np.random.Generator) -> np.ndarray:
    directions = rng.normal(size=(count, 3))
    return np.asarray(centre) + radius * directions / np.linalg.norm(directions, axis=1, keepdims=True)


def test_a_bears_head_is_the_narrow_top_and_a_plain_box_has_none() -> None:
    rng = np.random.default_rng(0)
    body = sphere([0.5, 0.0, 0.05], 0.04, 800, rng)
    arms = np.concatenate([sphere([0.5, side * 0.06, 0.05], 0.015, 200, rng) for side in (-1, 1)])
    head = sphere([0.5, 0.0, 0.12], 0.03, 600, rng)
    bear = np.concatenate([body, arms, head])
    pose, extent = top_slice(bear)
    assert np.allclose(pose[:2, 3], [0.5, 0.0], atol=0.005)
    assert max(extent[:2]) < 0.065 and extent[2] <= 0.04 + 1e-9  # the head, not the 15 cm across the arms
    assert pose[2, 3] - extent[2] / 2 >= 0.11  # the band under the top: clear of the body and arms
    block = rng.uniform([0.4, -0.03, 0.0], [0.5, 0.03, 0.1], size=(2000, 3))
    assert top_slice(block) is None  # no narrower at its top
    assert top_slice(bear[:5]) is None  # too few points


def grasp(name: str, x: float) -> GraspCandidate:
    pose = np.eye(4)
    pose[0, 3] = x
    return GraspCandidate(pose, 0.05, 1.0, name)


def test_the_narrow_top_is_the_fallback_when_none_of_the_whole_objects_grasps_is_usable() -> None:
    whole, narrow = [grasp("body", 0.8)], [grasp("head", 0.5)]
    near = lambda grasps: [g.strategy for g in grasps if g.pose[0, 3] < 0.7]  # noqa: E731 (reach)
    assert usable_or_narrow(whole, whole, narrow, near) == ["head"]
    assert usable_or_narrow([*whole, grasp("handle", 0.6)], whole, narrow, near) == ["handle"]  # usable
    assert usable_or_narrow(narrow, [], narrow, near) == ["head"]  # the narrow top was the proposal
    assert usable_or_narrow(whole, whole, [], near) == []  # no narrow top: nothing to fall back to

    def blocked(grasps: list[GraspCandidate]) -> list[str]:
        if any(g.strategy == "body" for g in grasps):
            raise CollisionError("all grasps would sweep the open gripper through other objects")
        return near(grasps)

    assert usable_or_narrow(whole, whole, narrow, blocked) == ["head"]
    with pytest.raises(CollisionError):  # the head is out of reach too: the whole object's error stands
        usable_or_narrow(whole, whole, [grasp("head", 0.9)], blocked)
