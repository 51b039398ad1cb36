"""A scripted pick-and-place demonstration (no agent, no ROS): for tests and for a first warp policy.

Top-down, in the home orientation: above the item, down to it, close, lift, over the place target,
open, up. Waypoints are solved with the arm's IK and timed at a gentle joint speed; the gripper opening
is what the real hand would read (the item's width while it is held).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from maestro_tools.motion.kinematics import ArmKinematics, time_path
from maestro_tools.vla.warping import Demonstration

CLOSE_S = 0.6  # s the arm waits while the fingers close or open


def pick_and_place(
    kinematics: ArmKinematics,
    home: np.ndarray,
    objects: Mapping[str, np.ndarray],
    item: str,
    target: str,
    instruction: str,
    max_width: float = 0.08,
    held_width: float = 0.066,
    grasp_depth: float = 0.0,
    release_height: float = 0.14,
    speed: float = 0.5,
) -> Demonstration:
    """A demonstration picking ``item`` at its detected centre (minus ``grasp_depth``) and releasing it
    ``release_height`` m above ``target``'s centre."""
    orientation = kinematics.fk(home)[:3, :3]
    grasp = np.asarray(objects[item], np.float64) - [0.0, 0.0, grasp_depth]
    above_item, place = (
        grasp + [0.0, 0.0, 0.15],
        np.asarray(objects[target], np.float64) + [0, 0, release_height],
    )
    keys = [
        (above_item, max_width),
        (grasp, max_width),
        (grasp, held_width),
        (above_item, held_width),
        (place, held_width),
        (place, max_width),
        (place + [0.0, 0.0, 0.08], max_width),
    ]
    q, times, joints, opening, now = np.asarray(home, np.float64), [0.0], [np.asarray(home)], [max_width], 0.0
    for position, width in keys:
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = orientation, position
        if width != opening[-1]:  # the gripper moves, the arm waits
            now += CLOSE_S
            times.append(now), joints.append(q), opening.append(width)
            continue
        waypoints = kinematics.cartesian_path(q, pose, step=0.02)
        stamps = time_path(q, waypoints, speed)
        for stamp, waypoint in zip(stamps, waypoints, strict=True):
            times.append(now + float(stamp)), joints.append(waypoint), opening.append(width)
        now, q = times[-1], waypoints[-1]
    return Demonstration(
        instruction,
        np.asarray(times),
        np.asarray(joints),
        np.asarray(opening),
        dict(objects),
        "ball_in_bowl",
        "scripted pick and place",
    )
