"""Offscreen rendering of the simulation's cameras: colour, depth (metres) and instance segmentation.

MuJoCo's GL context belongs to the thread that created it, so a Cameras object must be created
and used from one thread (the sim node's physics thread). Renderers come from ``common.gl``, which
picks a GL backend that works here (headless included) unless MUJOCO_GL says which.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from maestro_tools.common.errors import NotFoundError
from maestro_tools.common.gl import new_renderer

# MuJoCo cameras look along -z with y up; ROS optical frames look along +z with y down.
_MJ_TO_OPTICAL = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class Frame:
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres along the optical axis
    time: float  # simulation time of the render


class Cameras:
    """Renders the named cameras of a model at a fixed resolution."""

    def __init__(self, model: mujoco.MjModel, width: int, height: int, names: dict[str, str]) -> None:
        """``names`` maps each camera's ROS name to its MuJoCo camera ("wrist" -> "panda/wrist_camera")."""
        self.model, self.width, self.height = model, width, height
        # One renderer per mode: switching a renderer into segmentation mode and back costs ~0.25 s.
        self._renderer = new_renderer(model, height, width)
        self._depth_renderer: mujoco.Renderer | None = None
        self._segmentation_renderer: mujoco.Renderer | None = None
        self._options = mujoco.MjvOption()
        self._options.sitegroup[:] = 0  # hide site markers
        self._options.geomgroup[3] = 0  # hide collision-only geoms of the robot
        self.ids = {}
        for name, mj_name in names.items():
            camera_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, mj_name)
            if camera_id >= 0:
                self.ids[name] = camera_id

    def close(self) -> None:
        for renderer in (self._renderer, self._depth_renderer, self._segmentation_renderer):
            if renderer is not None:
                renderer.close()

    def camera_id(self, camera: str) -> int:
        if camera not in self.ids:
            raise NotFoundError(f"unknown camera {camera!r}; cameras: {', '.join(self.ids)}")
        return self.ids[camera]

    def intrinsics(self, camera: str) -> np.ndarray:
        """3x3 pinhole K of ``camera`` at this resolution (square pixels, centred principal point)."""
        fovy = np.deg2rad(self.model.cam_fovy[self.camera_id(camera)])
        focal = 0.5 * self.height / np.tan(fovy / 2)
        return np.array(
            [[focal, 0.0, (self.width - 1) / 2], [0.0, focal, (self.height - 1) / 2], [0, 0, 1.0]]
        )

    def pose(self, data: mujoco.MjData, camera: str) -> np.ndarray:
        """4x4 pose of the camera's optical frame (z forward, y down) in the world (= base) frame."""
        camera_id = self.camera_id(camera)
        transform = np.eye(4)
        transform[:3, :3] = data.cam_xmat[camera_id].reshape(3, 3) @ _MJ_TO_OPTICAL
        transform[:3, 3] = data.cam_xpos[camera_id]
        return transform

    def rgb(self, data: mujoco.MjData, camera: str) -> np.ndarray:
        self._renderer.update_scene(data, camera=self.camera_id(camera), scene_option=self._options)
        return self._renderer.render().copy()

    def depth(self, data: mujoco.MjData, camera: str) -> np.ndarray:
        if self._depth_renderer is None:
            self._depth_renderer = new_renderer(self.model, self.height, self.width)
            self._depth_renderer.enable_depth_rendering()
        self._depth_renderer.update_scene(data, camera=self.camera_id(camera), scene_option=self._options)
        depth = self._depth_renderer.render().astype(np.float32)
        # Where the ray hit nothing MuJoCo reports the far clip plane; a depth camera reports 0 (no data).
        far = self.model.vis.map.zfar * self.model.stat.extent
        depth[depth >= 0.99 * far] = 0.0
        return depth

    def frame(self, data: mujoco.MjData, camera: str) -> Frame:
        return Frame(self.rgb(data, camera), self.depth(data, camera), float(data.time))

    def segmentation(
        self,
        data: mujoco.MjData,
        camera: str,
        geom_instance: np.ndarray,
        flex_instance: np.ndarray | None = None,
    ) -> np.ndarray:
        """(H, W) int32 instance ids per pixel from ``geom_instance``/``flex_instance``; 0 = background."""
        if self._segmentation_renderer is None:
            self._segmentation_renderer = new_renderer(self.model, self.height, self.width)
            self._segmentation_renderer.enable_segmentation_rendering()
        self._segmentation_renderer.update_scene(
            data, camera=self.camera_id(camera), scene_option=self._options
        )
        raw = self._segmentation_renderer.render()
        ids, types = raw[:, :, 0], raw[:, :, 1]
        is_geom = (types == int(mujoco.mjtObj.mjOBJ_GEOM)) & (ids >= 0)  # int(): an enum compares per pixel
        out = np.zeros(ids.shape, dtype=np.int32)
        out[is_geom] = geom_instance[ids[is_geom]]
        if flex_instance is not None and len(flex_instance):
            is_flex = (types == int(mujoco.mjtObj.mjOBJ_FLEX)) & (ids >= 0)
            out[is_flex] = flex_instance[ids[is_flex]]
        return out
