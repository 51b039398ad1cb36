"""ROS messages of the navigation state: the planned path and the occupancy grid (for RViz)."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import OccupancyGrid as GridMessage
from nav_msgs.msg import Path
from rclpy.time import Time
from std_msgs.msg import Header

from maestro_tools.navigation.grid import OccupancyGrid


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
    cells[grid.occupied] = 100
    message.data = cells.T.ravel().tolist()
    return message
