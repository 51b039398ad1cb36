"""ROS messages of the navigation state: the planned path and the occupancy grid (for RViz)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import OccupancyGrid as GridMessage
from nav_msgs.msg import Path
from rclpy.time import Time
from scipy.ndimage import distance_transform_edt
from std_msgs.msg import Header

from maestro_tools.navigation.grid import OccupancyGrid

OCCUPIED = 100  # a grid message's value for an occupied cell (nav_msgs: 0..100, -1 unknown)


def path_message(path: np.ndarray, frame: str, now: Time) -> Path:
    header = Header(frame_id=frame, stamp=now.to_msg())
    poses = []
    for x, y in np.asarray(path)[:, :2]:
        pose = PoseStamped(header=header)
        pose.pose.position.x, pose.pose.position.y = float(x), float(y)
        pose.pose.orientation.w = 1.0
        poses.append(pose)
    return Path(header=header, poses=poses)


def grid_message(grid: OccupancyGrid, frame: str, now: Time) -> GridMessage:
    """Occupied 100, seen free 0, unknown -1; row-major with x fastest, as nav_msgs wants."""
    message = GridMessage(header=Header(frame_id=frame, stamp=now.to_msg()))
    message.info.resolution = float(grid.config.resolution)
    message.info.width = message.info.height = grid.n
    message.info.origin.position.x, message.info.origin.position.y = (float(v) for v in grid.origin)
    message.info.origin.position.z = float(grid.config.floor_height)
    message.info.origin.orientation.w = 1.0
    cells = np.full(grid.log_odds.shape, -1, dtype=np.int8)
    cells[grid.log_odds < -grid.config.threshold] = 0
    cells[grid.occupied] = OCCUPIED
    message.data = cells.T.ravel().tolist()
    return message


def grid_clearance(message: GridMessage) -> Callable[[float, float], float]:
    """From a grid message: (x, y) in its frame -> m to the nearest occupied cell (inf where none is, or
    outside the grid): what the navigation's planner holds a goal to."""
    info = message.info
    n_x, n_y, resolution = int(info.width), int(info.height), float(info.resolution)
    cells = np.asarray(message.data, dtype=np.int8).reshape(n_y, n_x).T  # [ix, iy]
    occupied = cells >= OCCUPIED
    clearance = distance_transform_edt(~occupied) * resolution if occupied.any() else None
    ox, oy = info.origin.position.x, info.origin.position.y

    def at(x: float, y: float) -> float:
        ix, iy = int((x - ox) // resolution), int((y - oy) // resolution)
        if clearance is None or not (0 <= ix < n_x and 0 <= iy < n_y):
            return float("inf")
        return float(clearance[ix, iy])

    return at
