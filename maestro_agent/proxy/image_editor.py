"""``image_editor``: draw on camera images and show them to the VLM."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from maestro_agent.proxy.harness import Harness, show, tool
from maestro_agent.proxy.registry import register_tool
from maestro_agent.proxy.ros_client import RosClient
from maestro_tools.common import render
from maestro_tools.common.errors import InvalidArgumentError


def _image(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise InvalidArgumentError("image must be an RGB uint8 array (H, W, 3), e.g. from robot.get_image()")
    return array


class ImageEditor:
    """Annotate images so you can check positions visually; every result is shown to you."""

    module = "image_editor"

    def __init__(self, ros: RosClient, harness: Harness) -> None:
        self._ros, self._harness = ros, harness

    @tool("perception")
    def draw_point(self, position: Sequence[float], label: str = "", camera: str = "") -> np.ndarray:
        """Draw the 3D base-frame ``position`` on a fresh image of ``camera`` and show it."""
        camera = self._harness.check_camera(camera)
        point = np.asarray(position, dtype=float).reshape(3)
        frame = self._ros.frame(camera)
        pixels, in_front = render.project(point, frame.intrinsics, frame.camera_pose)
        if not in_front[0]:
            raise InvalidArgumentError(f"{point.round(3).tolist()} is behind the {camera} camera")
        image = render.draw_points(frame.rgb, pixels, [label or str(point.round(3).tolist())])
        show(f"point {label} ({camera} camera)", image)
        return image

    @tool("perception")
    def draw_box(self, image: np.ndarray, box: Sequence[int], label: str = "") -> np.ndarray:
        """Draw a pixel box (x, y, width, height) with a label on ``image`` and show it."""
        if len(box) != 4:
            raise InvalidArgumentError("box must be (x, y, width, height) in pixels")
        drawn = render.draw_detections(_image(image), [label], [tuple(int(v) for v in box)])
        show(f"box {label}", drawn)
        return drawn

    @tool("perception")
    def show(self, image: np.ndarray, label: str = "image") -> None:
        """Show ``image`` to yourself in the next observation."""
        show(label, _image(image))


register_tool("image_editor", ("cameras",), lambda ros, harness, built: ImageEditor(ros, harness), group="S1")
