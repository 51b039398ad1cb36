"""Ground truth from the simulator for the ``get_segmentation`` service: one camera's rgb, depth and
instance ids rendered at the same instant, the instance labels, and the scene's named sites (exact
keypoints such as "mug/handle", and each object's origin under its label)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import Header

from maestro_msgs.srv import GetSegmentation
from maestro_tools.common.conversions import (
    intrinsics_to_camera_info,
    matrix_to_pose,
    numpy_to_image,
    seconds_to_time,
)
from maestro_tools.sim.cameras import Frame
from maestro_tools.sim.world import SimWorld


@dataclass(frozen=True)
class GroundTruthView:
    camera: str
    frame: Frame
    instances: np.ndarray  # (H, W) int32
    intrinsics: np.ndarray  # 3x3
    camera_pose: np.ndarray  # 4x4 optical frame in base
    labels: list[str]  # instance id -> label, 0 = background
    sites: dict[str, np.ndarray]  # name -> (3,) base frame
    optical_frame: str  # the camera's optical frame in TF (the robot profile's)


def render_view(world: SimWorld, camera: str) -> GroundTruthView:
    """Render ``camera`` and read the scene's ground truth; call from the physics thread."""
    cameras = world.render_cameras()
    return GroundTruthView(
        camera=camera,
        frame=cameras.frame(world.data, camera),
        instances=world.segmentation(camera),
        intrinsics=cameras.intrinsics(camera),
        camera_pose=cameras.pose(world.data, camera),
        labels=list(world.instance_labels),
        sites=world.named_sites(),
        optical_frame=world.profile.camera(camera).optical_frame,
    )


def fill_segmentation(response: GetSegmentation.Response, view: GroundTruthView) -> GetSegmentation.Response:
    header = Header(stamp=seconds_to_time(view.frame.time), frame_id=view.optical_frame)
    rgb = view.frame.rgb
    response.segmentation = numpy_to_image(view.instances, "32SC1", header)
    response.image = numpy_to_image(rgb, "rgb8", header)
    response.depth = numpy_to_image(view.frame.depth, "32FC1", header)
    response.camera_info = intrinsics_to_camera_info(view.intrinsics, rgb.shape[1], rgb.shape[0], header)
    response.camera_pose = matrix_to_pose(view.camera_pose)
    response.instance_ids = list(range(1, len(view.labels)))
    response.instance_labels = view.labels[1:]
    response.site_names = list(view.sites)
    response.site_positions = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in view.sites.values()]
    response.success = True
    return response
