"""Top-down grasps shifted along an elongated box's long side (plain numpy): LIBERO-PRO put the chocolate
pudding beside the orange juice, where the hand over the pudding's middle comes within the motion's 1.5 cm
of the carton and over its far end does not."""

from __future__ import annotations

import numpy as np

from maestro_tools.grasping.proposals import OFF_CENTRE_SCORE, box_grasps, pad_half_width
from maestro_tools.robots import get_robot


def box(yaw: float) -> np.ndarray:
    pose = np.eye(4)
    pose[:2, :2] = [[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]
    pose[:3, 3] = [0.706, -0.199, 0.018]
    return pose


def test_a_pudding_box_is_also_grasped_over_either_end_of_its_long_side() -> None:
    profile = get_robot("libero")
    gripper, arm = profile.gripper, profile.arm
    extent = np.array([0.069, 0.044, 0.024])  # the pudding as LIBERO's scene camera saw it
    for yaw in (0.0, 0.7):
        pose = box(yaw)
        grasps = box_grasps(pose, extent, gripper.max_width, gripper, arm)
        centred = [g for g in grasps if np.allclose(g.pose[:2, 3], pose[:2, 3])]
        shifted = [g for g in grasps if not np.allclose(g.pose[:2, 3], pose[:2, 3])]
        across = centred[0]  # the best: closing across the 44 mm side
        assert abs(across.width - 0.054) < 1e-9
        assert len(shifted) == 2 and all(g.score == OFF_CENTRE_SCORE * across.score for g in shifted)
        long_side = pose[:3, 0]
        reach = 0.069 / 2 - pad_half_width(gripper) - 0.005  # the pads 5 mm inside the ends
        offsets = sorted(float((g.pose[:3, 3] - pose[:3, 3]) @ long_side) for g in shifted)
        assert np.allclose(offsets, [-reach, reach])
        for g in shifted:  # the same closing axis, height and opening as the centred grasp
            assert np.allclose(g.pose[:3, :3], across.pose[:3, :3]) and g.pose[2, 3] == across.pose[2, 3]
            assert g.width == across.width
        order = [id(g) for g in grasps]
        assert min(order.index(id(g)) for g in shifted) > order.index(id(across))  # after the centred one


def test_a_box_too_short_to_shift_along_gets_only_centred_grasps() -> None:
    profile = get_robot("libero")
    gripper, arm = profile.gripper, profile.arm
    pose = box(0.0)
    for extent in ([0.045, 0.044, 0.05], [0.05, 0.03, 0.05]):  # square; 1 cm short of a shift
        grasps = box_grasps(pose, np.array(extent), gripper.max_width, gripper, arm)
        assert grasps and all(np.allclose(g.pose[:2, 3], pose[:2, 3]) for g in grasps)
