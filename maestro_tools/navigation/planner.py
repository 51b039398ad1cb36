"""Global paths on a costmap: the ``PathPlanner`` interface and an 8-connected grid search behind it.

A start inside the inflated obstacles (the robot brushed one, or the grid just learned of it) may leave
through lethal cells at a high price, but only within ``escape`` m of the start; a goal inside them is
moved to the nearest free cell within ``goal_slack`` m, else the goal is unreachable.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from maestro_tools.common.errors import UnreachableError
from maestro_tools.navigation.grid import Costmap

ESCAPE_PRICE = 20.0  # cost per cell of leaving through lethal cells near the start
SEARCH_MARGIN = 2.5  # m around the start-goal box searched first
SHORTCUT_CELLS = 40  # waypoints a smoothing shortcut may skip (bounds its cost on long paths)


class GoalInObstacleError(UnreachableError):
    """The goal itself is inside an obstacle (inflated by the footprint): no recovery helps."""


class PathPlanner(Protocol):
    def plan(self, costmap: Costmap, start: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """(N, 2) fixed-frame waypoints from ``start`` to ``goal`` (x, y); raises UnreachableError."""
        ...


def path_length(path: np.ndarray) -> float:
    path = np.asarray(path, dtype=np.float64)
    return float(np.linalg.norm(np.diff(path[:, :2], axis=0), axis=1).sum()) if len(path) > 1 else 0.0


class GridPlanner:
    """The cheapest path over the costmap's cells (8-connected; each step costs its length times the
    entered cell's cost), smoothed by dropping waypoints a straight, clear line skips."""

    def __init__(self, escape: float = 0.6, goal_slack: float = 0.3) -> None:
        self.escape, self.goal_slack = escape, goal_slack

    def _free_goal(self, costmap: Costmap, goal: tuple[int, int], xy: np.ndarray) -> tuple[int, int]:
        if costmap.inside(goal) and not costmap.lethal[goal]:
            return goal
        reach = int(math.ceil(self.goal_slack / costmap.resolution))
        n = costmap.lethal.shape[0]
        best: tuple[float, tuple[int, int]] | None = None
        for dx in range(-reach, reach + 1):
            for dy in range(-reach, reach + 1):
                cell = (goal[0] + dx, goal[1] + dy)
                if 0 <= cell[0] < n and 0 <= cell[1] < n and not costmap.lethal[cell]:
                    distance = math.hypot(dx, dy) * costmap.resolution
                    if distance <= self.goal_slack and (best is None or distance < best[0]):
                        best = (distance, cell)
        if best is None:
            x, y = xy[:2]
            near = float(costmap.clearance[goal]) if costmap.inside(goal) else float("nan")
            raise GoalInObstacleError(
                f"the goal ({x:.2f}, {y:.2f}) is {near:.2f} m from an obstacle, closer than the robot's "
                f"footprint allows, and no free spot lies within {self.goal_slack} m of it; choose a goal "
                "farther from obstacles"
            )
        return best[1]

    def plan(self, costmap: Costmap, start: np.ndarray, goal: np.ndarray) -> np.ndarray:
        s, g = costmap.cell(start), costmap.cell(goal)
        if not costmap.inside(s) or not costmap.inside(g):
            raise UnreachableError(
                f"the goal ({goal[0]:.2f}, {goal[1]:.2f}) is outside the planning window around the robot "
                f"({costmap.lethal.shape[0] * costmap.resolution:g} m); raise grid_size or give a nearer goal"
            )
        g = self._free_goal(costmap, g, np.asarray(goal, dtype=np.float64))
        # First within SEARCH_MARGIN of the box around start and goal (fast), then the whole window.
        margin = int(SEARCH_MARGIN / costmap.resolution)
        n = costmap.lethal.shape[0]
        lo = np.maximum(np.minimum(s, g) - margin, 0)
        hi = np.minimum(np.maximum(s, g) + margin + 1, n)
        cells = self._search(costmap, s, g, lo, hi)
        if cells is None and (lo.any() or (hi < n).any()):
            cells = self._search(costmap, s, g, np.zeros(2, dtype=int), np.full(2, n))
        if cells is None:
            raise UnreachableError(
                f"no path from ({start[0]:.2f}, {start[1]:.2f}) to ({goal[0]:.2f}, {goal[1]:.2f}): obstacles "
                "seen by the cameras close every way at the robot's footprint width"
            )
        points = costmap.centre(cells)
        points[0] = np.asarray(start, dtype=np.float64)[:2]
        if g == costmap.cell(goal):
            points[-1] = np.asarray(goal, dtype=np.float64)[:2]
        return self._smooth(costmap, points)

    def _search(
        self, costmap: Costmap, s: tuple[int, int], g: tuple[int, int], lo: np.ndarray, hi: np.ndarray
    ) -> np.ndarray | None:
        """The cheapest 8-connected cell path s -> g (M, 2) within cells [lo, hi), or None: Dijkstra in C
        on a sparse graph."""
        box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]))
        lethal, cost = costmap.lethal[box], costmap.cost[box]
        s, g = (s[0] - lo[0], s[1] - lo[1]), (g[0] - lo[0], g[1] - lo[1])
        nx, ny = lethal.shape
        ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
        near_start = (ix - s[0]) ** 2 + (iy - s[1]) ** 2 <= (self.escape / costmap.resolution) ** 2
        allowed = ~lethal | near_start
        price = np.where(lethal, ESCAPE_PRICE, cost)
        index = np.arange(nx * ny).reshape(nx, ny)
        sources, targets, weights = [], [], []
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)):
            src = (slice(max(-dx, 0), nx - max(dx, 0)), slice(max(-dy, 0), ny - max(dy, 0)))
            dst = (slice(max(dx, 0), nx - max(-dx, 0)), slice(max(dy, 0), ny - max(-dy, 0)))
            ok = allowed[src] & allowed[dst]
            sources.append(index[src][ok])
            targets.append(index[dst][ok])
            weights.append(math.hypot(dx, dy) * price[dst][ok])
        size = nx * ny
        graph = csr_matrix(
            (np.concatenate(weights), (np.concatenate(sources), np.concatenate(targets))), shape=(size, size)
        )
        start, end = s[0] * ny + s[1], g[0] * ny + g[1]
        distance, previous = dijkstra(graph, indices=start, return_predecessors=True)
        if not np.isfinite(distance[end]):
            return None
        chain = [end]
        while chain[-1] != start:
            chain.append(int(previous[chain[-1]]))
        chain.reverse()
        return np.stack(np.divmod(np.array(chain), ny), axis=1) + lo

    @staticmethod
    def _smooth(costmap: Costmap, points: np.ndarray) -> np.ndarray:
        """Drop waypoints that a straight, obstacle-free and no-costlier line jumps over (greedy: each
        shortcut reaches as far as the next waypoints stay visible, at most SHORTCUT_CELLS)."""
        kept, i, last = [points[0]], 0, len(points) - 1
        while i < last:
            j = i + 1
            while j < min(last, i + SHORTCUT_CELLS) and _line_clear(costmap, points[i], points[j + 1]):
                j += 1
            kept.append(points[j])
            i = j
        return np.array(kept)


def _line_clear(costmap: Costmap, a: np.ndarray, b: np.ndarray) -> bool:
    """No lethal cell and no raised cost on the straight line a -> b (the shortcut keeps clearance)."""
    samples = int(math.hypot(*(b - a)) / (costmap.resolution / 2)) + 2
    t = np.arange(samples) / (samples - 1)
    cx = ((a[0] + (b[0] - a[0]) * t - costmap.origin[0]) / costmap.resolution).astype(int)
    cy = ((a[1] + (b[1] - a[1]) * t - costmap.origin[1]) / costmap.resolution).astype(int)
    n = costmap.lethal.shape[0]
    if cx.min() < 0 or cy.min() < 0 or cx.max() >= n or cy.max() >= n:
        return False
    return bool(costmap.cost[cx, cy].max() <= 1.0 + 1e-6) and not costmap.lethal[cx, cy].any()
