"""A local occupancy grid in the fixed frame, built from depth points, and the costmap planners read.

``OccupancyGrid`` holds log-odds per cell over a square window that follows the robot (``recenter``).
``integrate`` takes the points of one depth image already lifted into the fixed frame and the camera's
position: points in the robot's height band above the floor are hits; every ray clears the cells it
crosses below the band's top (floor points and points beyond ``max_range`` only clear). Unknown cells
count as free: the planner is optimistic and the grid corrects it as the cameras see more.
``costmap`` inflates the obstacles by the robot's footprint radius (``Costmap.lethal``) and adds a
cost that falls off over ``cost_margin`` beyond it, so that paths keep away from obstacles if they can.
``keep_out`` footprints (furniture the semantic map remembers, ``map_obstacles.py``) count as occupied
whatever the depth says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.navigation.map_obstacles import Footprint


@dataclass(frozen=True)
class GridConfig:
    resolution: float = 0.1  # m per cell
    size: float = 16.0  # m, side of the square window
    floor_height: float = 0.0  # m, the floor's z in the fixed frame
    min_height: float = 0.08  # m above the floor: lower points are floor
    max_height: float = 1.0  # m above the floor: higher points pass over the robot
    max_range: float = 4.0  # m from the camera: farther points only clear
    hit: float = 0.9  # log-odds added per image that sees an obstacle in a cell
    miss: float = 0.4  # log-odds removed per image whose rays cross a cell
    limit: float = 3.0  # log-odds clamp: how quickly a cell can change its mind
    threshold: float = 0.5  # log-odds above which a cell is occupied

    def __post_init__(self) -> None:
        if not (0.01 <= self.resolution <= 1.0 and self.size >= 10 * self.resolution):
            raise InvalidArgumentError(
                f"grid: resolution {self.resolution} m must be in [0.01, 1] and size {self.size} m at "
                "least 10 cells"
            )
        if not 0 <= self.min_height < self.max_height:
            raise InvalidArgumentError("grid: need 0 <= min_height < max_height")
        if self.hit <= 0 or self.miss <= 0 or self.limit < self.threshold:
            raise InvalidArgumentError("grid: need hit, miss > 0 and limit >= threshold")


@dataclass(frozen=True)
class Costmap:
    """What a planner reads: lethal cells (within the inflation radius of an obstacle) and step costs."""

    origin: np.ndarray  # (2,) fixed-frame x, y of cell (0, 0)'s corner
    resolution: float
    lethal: np.ndarray  # (n, n) bool, indexed [ix, iy]
    cost: np.ndarray  # (n, n) float >= 1: the price of entering a cell, per cell travelled
    clearance: np.ndarray  # (n, n) float: metres from the cell to the nearest obstacle

    def cell(self, xy: np.ndarray) -> tuple[int, int]:
        ix, iy = np.floor((np.asarray(xy, dtype=np.float64)[:2] - self.origin) / self.resolution).astype(int)
        return int(ix), int(iy)

    def inside(self, cell: tuple[int, int]) -> bool:
        n = self.lethal.shape[0]
        return 0 <= cell[0] < n and 0 <= cell[1] < n

    def centre(self, cells: np.ndarray) -> np.ndarray:
        """Fixed-frame x, y of cell centres (N, 2)."""
        return self.origin + (np.asarray(cells, dtype=np.float64) + 0.5) * self.resolution

    def blocked(self, points: np.ndarray) -> np.ndarray:
        """Per (N, 2) point: inside a lethal cell (points outside the window are not)."""
        cells = np.floor((np.asarray(points)[:, :2] - self.origin) / self.resolution).astype(int)
        n = self.lethal.shape[0]
        inside = np.all((cells >= 0) & (cells < n), axis=1)
        out = np.zeros(len(cells), dtype=bool)
        out[inside] = self.lethal[cells[inside, 0], cells[inside, 1]]
        return out


class OccupancyGrid:
    """Log-odds occupancy over a square window of the fixed frame; not thread-safe."""

    def __init__(self, config: GridConfig, centre: tuple[float, float] = (0.0, 0.0)) -> None:
        self.config = config
        self.n = int(round(config.size / config.resolution))
        self.log_odds = np.zeros((self.n, self.n), dtype=np.float32)
        self.origin = np.zeros(2)
        self.keep_out: tuple[Footprint, ...] = ()
        self._keep_out_mask: tuple[tuple[float, float], np.ndarray] | None = None
        self._place(np.asarray(centre, dtype=np.float64))

    def _place(self, centre: np.ndarray) -> None:
        half = self.n * self.config.resolution / 2
        self.origin = np.round((centre - half) / self.config.resolution) * self.config.resolution

    @property
    def centre(self) -> np.ndarray:
        return self.origin + self.n * self.config.resolution / 2

    def recenter(self, xy: tuple[float, float], slack: float = 0.25) -> None:
        """Move the window so that ``xy`` is at its centre once it is more than ``slack`` of the size
        off-centre; what the old window knew of the overlap is kept."""
        xy_arr = np.asarray(xy, dtype=np.float64)[:2]
        if np.max(np.abs(xy_arr - self.centre)) <= slack * self.config.size:
            return
        old_origin = self.origin.copy()
        self._place(xy_arr)
        shift = np.round((self.origin - old_origin) / self.config.resolution).astype(int)
        moved = np.zeros_like(self.log_odds)
        n, (dx, dy) = self.n, shift
        src_x, dst_x = slice(max(dx, 0), min(n, n + dx)), slice(max(-dx, 0), min(n, n - dx))
        src_y, dst_y = slice(max(dy, 0), min(n, n + dy)), slice(max(-dy, 0), min(n, n - dy))
        moved[dst_x, dst_y] = self.log_odds[src_x, src_y]
        self.log_odds = moved

    def _cells(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices of the points inside the window, and which points those are."""
        cells = np.floor((xy - self.origin) / self.config.resolution).astype(np.int64)
        inside = np.all((cells >= 0) & (cells < self.n), axis=1)
        return cells[inside, 0] * self.n + cells[inside, 1], inside

    def integrate(
        self, points: np.ndarray, sensor: np.ndarray, keep_out: tuple[np.ndarray, float] | None = None
    ) -> None:
        """Add one depth image: (N, 3) fixed-frame points seen from ``sensor`` (3,). ``keep_out``
        (x, y centre, radius): a disc never marked occupied (the robot's own body)."""
        c = self.config
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        sensor = np.asarray(sensor, dtype=np.float64)[:3]
        points = points[np.all(np.isfinite(points), axis=1)]
        if not len(points):
            return
        offset = points - sensor
        dist = np.linalg.norm(offset, axis=1)
        far = dist > c.max_range
        ends = np.where(
            far[:, None], sensor + offset * (c.max_range / np.maximum(dist, 1e-9))[:, None], points
        )
        height = points[:, 2] - c.floor_height
        hits = ~far & (height >= c.min_height) & (height <= c.max_height)
        if keep_out is not None:
            centre, radius = keep_out
            hits &= np.linalg.norm(points[:, :2] - np.asarray(centre)[:2], axis=1) > radius
        # Clearing: samples along each ray, short of its end by one cell, below the band's top.
        length = np.linalg.norm(ends[:, :2] - sensor[:2], axis=1)
        steps = int(np.ceil(c.max_range / c.resolution))
        t = (np.arange(steps) + 0.5) / steps
        samples = sensor + (ends - sensor)[:, None, :] * t[None, :, None]  # (N, steps, 3)
        short = t[None, :] * length[:, None] < length[:, None] - c.resolution
        low = samples[:, :, 2] - c.floor_height <= c.max_height
        free_xy = samples[short & low][:, :2]
        free, _ = self._cells(free_xy)
        hit, _ = self._cells(points[hits, :2])
        update = np.zeros(self.n * self.n, dtype=np.float32)
        update[np.unique(free)] = -c.miss
        update[np.unique(hit)] = c.hit  # a hit wins over a ray crossing the same cell
        self.log_odds = np.clip(self.log_odds + update.reshape(self.n, self.n), -c.limit, c.limit)

    def clear_disc(self, xy: np.ndarray, radius: float) -> None:
        """Mark a disc free (where the robot stands there is nothing)."""
        ix = np.arange(self.n)
        centres = self.origin[:, None] + (ix[None, :] + 0.5) * self.config.resolution
        near_x = np.abs(centres[0] - xy[0]) <= radius
        near_y = np.abs(centres[1] - xy[1]) <= radius
        gx, gy = np.meshgrid(centres[0][near_x], centres[1][near_y], indexing="ij")
        inside = (gx - xy[0]) ** 2 + (gy - xy[1]) ** 2 <= radius**2
        block = self.log_odds[np.ix_(near_x, near_y)]
        block[inside] = np.minimum(block[inside], 0.0)
        self.log_odds[np.ix_(near_x, near_y)] = block

    def set_keep_out(self, footprints: tuple[Footprint, ...]) -> None:
        self.keep_out, self._keep_out_mask = footprints, None

    def _kept_out(self) -> np.ndarray:
        """The cells inside a keep-out footprint (cached per window; a new footprint set drops it)."""
        key = (float(self.origin[0]), float(self.origin[1]))
        if self._keep_out_mask is not None and self._keep_out_mask[0] == key:
            return self._keep_out_mask[1]
        mask = np.zeros((self.n, self.n), dtype=bool)
        if self.keep_out:
            ix = np.arange(self.n)
            gx, gy = np.meshgrid(
                *(self.origin[k] + (ix + 0.5) * self.config.resolution for k in (0, 1)), indexing="ij"
            )
            centres = np.stack([gx.ravel(), gy.ravel()], axis=1)
            for footprint in self.keep_out:
                mask |= footprint.contains(centres).reshape(self.n, self.n)
        self._keep_out_mask = (key, mask)
        return mask

    @property
    def occupied(self) -> np.ndarray:
        return (self.log_odds > self.config.threshold) | self._kept_out()

    def costmap(self, inflation: float, cost_margin: float = 0.4, cost_weight: float = 4.0) -> Costmap:
        """Obstacles inflated by ``inflation`` m (lethal) plus a cost over ``cost_margin`` m beyond."""
        occupied = self.occupied
        resolution = self.config.resolution
        if occupied.any():
            clearance = distance_transform_edt(~occupied) * resolution
        else:
            clearance = np.full(occupied.shape, np.inf)
        lethal = clearance < inflation
        beyond = np.clip((clearance - inflation) / max(cost_margin, 1e-6), 0.0, 1.0)
        cost = 1.0 + cost_weight * (1.0 - beyond) ** 2
        return Costmap(self.origin.copy(), resolution, lethal, cost, clearance)
