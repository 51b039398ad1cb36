"""perception.zoom and perception.point_at_pixel, the VLM's own pointing, on rendered frames and through
the sandbox host (annotations checked, results crossing the wire), without ROS: the frames come from a
fake of the ROS client that hands out rendered SimWorld frames."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.perception import Perception
from maestro_agent.proxy.types import VALUE_TYPES, ImageCrop, Keypoint
from maestro_agent.sandbox import channel, wire
from maestro_agent.sandbox.host import ToolHost
from maestro_tools.common.errors import InvalidArgumentError, NoDataError
from maestro_tools.common.render import project
from maestro_tools.perception.objects import CameraFrame
from maestro_tools.robots import get_robot
from maestro_tools.sim.world import SimWorld

FRANKA = get_robot("franka")
BLOCK_HALF = 0.03  # clean_table's red block


class FakeRosFrames:
    """Stands in for RosClient's frames only: those rendered from a SimWorld, by camera; no services."""

    def __init__(self, frames: dict[str, CameraFrame]) -> None:
        self.frames = frames

    def service(self, srv_type: type, name: str) -> str:
        return f"fake client for {name}: never called here"

    def frame(self, camera: str, timeout: float = 5.0) -> CameraFrame:
        return self.frames[camera]


def rendered(world: SimWorld, camera: str) -> CameraFrame:
    cameras = world.render_cameras()
    shot = cameras.frame(world.data, camera)
    labels = dict(enumerate(world.instance_labels))
    return CameraFrame(
        camera,
        shot.rgb,
        shot.depth,
        None,
        labels,
        cameras.intrinsics(camera),
        cameras.pose(world.data, camera),
        shot.time,
    )


@pytest.fixture(scope="module")
def scene() -> Iterator[tuple[Perception, FakeRosFrames, np.ndarray]]:
    world = SimWorld("clean_table", 0, width=640, height=480)
    try:
        frames = FakeRosFrames({camera: rendered(world, camera) for camera in ("scene", "wrist")})
        top = world.position("red block") + [0.0, 0.0, BLOCK_HALF]
        yield Perception(frames, Harness(FRANKA), None), frames, top
    finally:
        world.close()


def pixel_of(frame: CameraFrame, point: np.ndarray) -> tuple[float, float]:
    pixels, in_front = project(point, frame.intrinsics, frame.camera_pose)
    assert in_front[0]
    return float(pixels[0, 0]), float(pixels[0, 1])


def through_host(host: ToolHost, method: str, *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    """Call a perception tool as sandboxed code does: (decoded result or error reply, images shown)."""
    tree, blobs = host.encoder.encode({"args": list(args), "kwargs": kwargs})
    header, region = wire.unpack(
        wire.pack({"tool": "perception", "method": method, "value": tree}, blobs)[4:]
    )
    shown: list[str] = []
    context = channel.CallContext(1, 1e12, lambda event: None, lambda label, image: shown.append(label))
    reply, blobs = host.dispatch(header, region, context)
    if not reply["ok"]:
        return reply, shown
    header, region = wire.unpack(wire.pack({"value": reply["value"]}, blobs)[4:])
    return wire.decode(header["value"], region, VALUE_TYPES), shown


def test_a_picked_pixel_lifts_to_the_3d_point_it_shows(scene) -> None:
    perception, frames, top = scene
    for camera in ("scene", "wrist"):
        u, v = pixel_of(frames.frames[camera], top)
        channel.clear()
        point = perception.point_at_pixel(u, v, camera)
        assert isinstance(point, Keypoint) and point.camera == camera and point.pixel == (u, v)
        assert np.linalg.norm(point.position - top) < 0.008, (camera, point.position, top)
        assert [label for label, _ in channel.images] == [
            f"point_at_pixel ({u:.0f}, {v:.0f}) in the {camera} camera"
        ]


def test_zoom_shows_a_full_resolution_crop_whose_pixels_map_back(scene) -> None:
    perception, frames, top = scene
    u, v = pixel_of(frames.frames["scene"], top)
    box = (round(u) - 40, round(v) - 30, 80, 60)
    channel.clear()
    crop = perception.zoom(box)  # the detection camera by default: scene
    assert crop.camera == "scene" and crop.scale == 4 and crop.image.shape == (240, 320, 3)
    assert crop.offset == box[:2]
    np.testing.assert_array_equal(
        crop.image[::4, ::4], frames.frames["scene"].rgb[crop.offset[1] :, crop.offset[0] :][:60, :80]
    )
    ((label, image),) = channel.images
    assert "crop's pixel (u, v) is about the camera's" in label and image.shape == crop.image.shape
    inside = ((u - crop.offset[0]) * 4 + 1.5, (v - crop.offset[1]) * 4 + 1.5)  # the crop pixel showing (u, v)
    assert np.allclose(crop.camera_pixel(*inside), (u, v), atol=0.5)
    point = perception.point_at_pixel(*inside, crop=crop)
    assert np.linalg.norm(point.position - top) < 0.008
    assert "camera pixels u" in str(crop) and "scale=4" in str(crop)


def test_pixels_without_depth_or_outside_the_image_are_refused(scene) -> None:
    perception, frames, top = scene
    u, v = pixel_of(frames.frames["scene"], top)
    holed = frames.frames["scene"].depth.copy()
    holed[int(v) - 5 : int(v) + 6, int(u) - 5 : int(u) + 6] = np.nan
    saved = frames.frames["scene"]
    frames.frames["scene"] = replace(saved, depth=holed)
    try:
        with pytest.raises(
            NoDataError, match=r"no depth at pixel .* nearest pixel with depth is \(\d+, \d+\)"
        ):
            perception.point_at_pixel(u, v, "scene")
    finally:
        frames.frames["scene"] = saved
    with pytest.raises(InvalidArgumentError, match="outside the scene camera's 640 x 480 image"):
        perception.point_at_pixel(700, 10, "scene")
    with pytest.raises(InvalidArgumentError, match="box must be"):
        perception.zoom((10, 10, 2))
    crop = perception.zoom((0, 0, 64, 48), "wrist")
    with pytest.raises(InvalidArgumentError, match="the crop is from the wrist camera, not scene"):
        perception.point_at_pixel(5, 5, "scene", crop)


def test_the_sandbox_host_passes_crops_and_checks_the_arguments(scene) -> None:
    perception, frames, top = scene
    host = ToolHost({"perception": perception}, VALUE_TYPES)
    u, v = pixel_of(frames.frames["wrist"], top)
    crop, shown = through_host(host, "zoom", [u - 20, v - 20, 40, 40], camera="wrist")
    assert isinstance(crop, ImageCrop) and crop.scale == 4 and shown[0].startswith("zoom on the wrist camera")
    point, shown = through_host(host, "point_at_pixel", 81.5, 81.5, crop=crop)
    assert isinstance(point, Keypoint) and np.linalg.norm(point.position - top) < 0.008, point
    refused, _ = through_host(host, "point_at_pixel", 10, 10, crop="the last zoom")
    assert not refused["ok"] and "crop must be ImageCrop | None" in refused["message"]
