"""Pointing at named parts without a VLM: the sim keypointer's named parts (simulator truth) on rendered
scenes, and the geometric keypointer's refusal that says how else to get them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from maestro_tools.common.errors import InvalidArgumentError, NotFoundError
from maestro_tools.perception.keypoints import keypoint, sim_keypoints
from maestro_tools.perception.objects import CameraFrame
from maestro_tools.sim.ground_truth import render_view
from maestro_tools.sim.world import SimWorld


@pytest.fixture(scope="module")
def world() -> Iterator[SimWorld]:
    sim = SimWorld("hang_mug", 0, width=640, height=480)
    yield sim
    sim.close()


def seen(world: SimWorld, task: str, perturbation: str = "none", camera: str = "scene") -> CameraFrame:
    world.reset(task, 0, perturbation)
    view = render_view(world, camera)
    labels = dict(enumerate(view.labels))
    return CameraFrame(
        camera,
        view.frame.rgb,
        view.frame.depth,
        view.instances,
        labels,
        view.intrinsics,
        view.camera_pose,
        view.frame.time,
        view.sites,
    )


def named(frame: CameraFrame, description: str, count: int = 1) -> list[str]:
    return [point.label for point in sim_keypoints(frame, description, count)]


def test_the_mug_and_peg_parts_by_name(world: SimWorld) -> None:
    frame = seen(world, "hang_mug")
    (handle,) = sim_keypoints(frame, "the handle of the mug")
    assert handle.label == "mug/handle"
    np.testing.assert_allclose(handle.position, frame.sites["mug/handle"])
    assert named(frame, "the handle of the mug cup") == ["mug/handle"]  # on the object seen
    assert named(frame, "the tip of the peg") == ["stand/peg_tip"]
    assert named(frame, "the rim of the mug") == ["mug/rim"]
    assert named(frame, "the peg of the stand", 2) == ["stand/peg_middle", "stand/peg_tip"]
    assert sim_keypoints(frame, "the top of the mug cup")[0].position[2] > 0.08  # geometric parts too
    with pytest.raises(
        InvalidArgumentError, match=r"no part 'handle' known on 'mug hanger stand'.*mug/handle"
    ):
        sim_keypoints(frame, "the handle of the mug hanger stand")
    with pytest.raises(NotFoundError, match=r"no 'kettle'.*named parts in this scene: mug/handle"):
        sim_keypoints(frame, "the spout of the kettle")


def test_a_swapped_object_keeps_its_parts(world: SimWorld) -> None:
    frame = seen(world, "hang_mug", "new_object")
    assert "blue cup" in frame.labels.values()
    assert named(frame, "the handle of the blue cup") == ["mug/handle"]  # the site lies on the cup


def test_cabinet_towel_cube_and_whiteboard_parts(world: SimWorld) -> None:
    cabinet = seen(world, "open_cabinet")
    assert named(cabinet, "the handle of the lower door") == ["lower door/handle"]
    assert named(cabinet, "the hinge of the cabinet door") == ["lower door/hinge"]
    assert named(cabinet, "the handle of the cabinet", 2) == ["lower door/handle", "upper door/handle"]
    towel = seen(world, "fold_towel")
    corner = sim_keypoints(towel, "the front left corner of the towel")[0]
    assert corner.label == "towel/front_left_corner"
    others = [towel.sites[f"towel/{side}_corner"] for side in ("front_right", "back_left", "back_right")]
    assert all(corner.position[0] < p[0] or corner.position[1] > p[1] for p in others)
    assert len(named(towel, "the corners of the towel", 4)) == 4
    cube = seen(world, "rotate_cube")
    assert set(named(cube, "the purple face of the cube", 2)) == {"cube/purple_face_1", "cube/purple_face_2"}
    board = seen(world, "erase_whiteboard")
    assert named(board, "the writing of the whiteboard") == ["whiteboard/writing"]
    assert named(board, "the pad of the eraser") == ["eraser/pad"]


def test_the_geometric_keypointer_lists_its_parts_and_the_ways_to_named_ones(world: SimWorld) -> None:
    frame = seen(world, "hang_mug")
    with pytest.raises(InvalidArgumentError, match=r"geometric parts: centre, top.*point_at_pixel") as caught:
        keypoint(frame, "the handle of the mug cup")
    assert "vlm:=gemini" in str(caught.value) and "backend sim" in str(caught.value)
