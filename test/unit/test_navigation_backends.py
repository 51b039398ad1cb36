"""Navigation backends without ROS: the grid from a synthetic depth image, paths around an obstacle, the
skid-steer follower's commands, and the navigator's loop on a simulated unicycle (arrival, stall
recoveries, timeout)."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest

from maestro_tools.common.conversions import depth_to_points
from maestro_tools.common.errors import (
    InvalidArgumentError,
    MaestroTimeoutError,
    StalledError,
    UnreachableError,
)
from maestro_tools.common.tf import transform_points
from maestro_tools.navigation.follower import FollowerConfig, PathFollower, Pose2D
from maestro_tools.navigation.goals import check_goal
from maestro_tools.navigation.grid import GridConfig, OccupancyGrid
from maestro_tools.navigation.navigator import Navigator, NavigatorConfig, NavState
from maestro_tools.navigation.planner import GoalInObstacleError, GridPlanner, path_length

BOX = (np.array([2.0, -0.3, 0.0]), np.array([2.2, 0.3, 0.5]))  # an obstacle ahead, map frame
K = np.array([[80.0, 0, 79.5], [0, 80.0, 59.5], [0, 0, 1]])  # 160 x 120 pinhole


def camera_pose(height: float = 0.47, pitch: float = 0.3) -> np.ndarray:
    """Optical frame (z forward, x right, y down) at the origin looking along +x, pitched down."""
    z = np.array([math.cos(pitch), 0.0, -math.sin(pitch)])
    x = np.array([0.0, -1.0, 0.0])
    pose = np.eye(4)
    pose[:3, :3] = np.column_stack([x, np.cross(z, x), z])
    pose[:3, 3] = (0.0, 0.0, height)
    return pose


def render_depth(pose: np.ndarray, boxes: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Depth (optical z) of a floor at z = 0 and axis-aligned boxes, by ray casting."""
    v, u = np.mgrid[0:120, 0:160].astype(np.float64)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=-1)
    d = rays @ pose[:3, :3].T  # per pixel, map-frame direction with unit optical z
    o = pose[:3, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(d[..., 2] < 0, -o[2] / d[..., 2], np.inf)
        for lo, hi in boxes:
            t1, t2 = (lo - o) / d, (hi - o) / d
            near = np.nanmax(np.minimum(t1, t2), axis=-1)
            far = np.nanmin(np.maximum(t1, t2), axis=-1)
            hit = (near <= far) & (near > 0)
            depth = np.where(hit & (near < depth), near, depth)
    return np.where(np.isfinite(depth) & (depth < 10), depth, 0.0).astype(np.float32)


def seen_grid(boxes: list[tuple[np.ndarray, np.ndarray]], **config: float) -> OccupancyGrid:
    grid = OccupancyGrid(GridConfig(resolution=0.05, size=8.0, **config))
    pose = camera_pose()
    points = transform_points(pose, depth_to_points(render_depth(pose, boxes), K))
    grid.integrate(points, pose[:3, 3])
    return grid


def value(grid: OccupancyGrid, x: float, y: float) -> float:
    ix, iy = np.floor((np.array([x, y]) - grid.origin) / grid.config.resolution).astype(int)
    return float(grid.log_odds[ix, iy])


def test_grid_from_depth_marks_the_box_and_clears_the_floor_before_it() -> None:
    grid = seen_grid([BOX])
    assert value(grid, 2.02, 0.0) > grid.config.threshold  # the box's near face
    assert value(grid, 1.0, 0.0) < 0 and value(grid, 1.8, 0.2) < 0  # floor seen free on the way
    assert value(grid, 3.0, 0.0) == 0  # hidden behind the box: unknown
    centres = grid.origin + (np.argwhere(grid.occupied) + 0.5) * grid.config.resolution
    assert len(centres) > 5
    lo, hi = BOX[0][:2] - 0.06, BOX[1][:2] + 0.06
    assert np.all((centres >= lo) & (centres <= hi)), centres  # nothing else: the floor is not an obstacle


def test_obstacles_out_of_the_height_band_are_ignored_and_the_robot_disc_kept_free() -> None:
    high = (np.array([1.5, -0.5, 1.3]), np.array([1.7, 0.5, 1.6]))  # above the robot
    assert not seen_grid([high]).occupied.any()
    grid = OccupancyGrid(GridConfig(resolution=0.05, size=8.0))
    pose = camera_pose()
    points = transform_points(pose, depth_to_points(render_depth(pose, [BOX]), K))
    grid.integrate(points, pose[:3, 3], keep_out=(np.array([2.0, 0.0]), 0.5))
    assert not grid.occupied.any()


def test_recentering_keeps_what_the_grid_knew() -> None:
    grid = seen_grid([BOX])
    before = value(grid, 2.02, 0.0)
    grid.recenter((3.5, 1.0))
    assert grid.centre == pytest.approx([3.5, 1.0], abs=0.05)
    assert value(grid, 2.02, 0.0) == pytest.approx(before)


def wall_grid(resolution: float = 0.05) -> OccupancyGrid:
    grid = OccupancyGrid(GridConfig(resolution=resolution, size=10.0))
    xs = np.arange(1.9, 2.1, resolution / 2)
    ys = np.arange(-1.0, 1.0, resolution / 2)
    wall = np.array([(x, y) for x in xs for y in ys])
    ix, iy = np.floor((wall - grid.origin) / resolution).astype(int).T
    grid.log_odds[ix, iy] = grid.config.limit
    return grid


def test_the_planner_goes_around_an_obstacle_keeping_the_footprint_clear() -> None:
    costmap = wall_grid().costmap(0.45)
    path = GridPlanner().plan(costmap, np.array([0.0, 0.0]), np.array([4.0, 0.0]))
    assert path[0] == pytest.approx([0, 0]) and path[-1] == pytest.approx([4, 0])
    assert np.abs(path[:, 1]).max() > 1.3  # round the end of the wall
    assert 4.5 < path_length(path) < 7.0
    samples = np.concatenate(
        [a + (b - a) * np.linspace(0, 1, 50)[:, None] for a, b in itertools.pairwise(path)]
    )
    assert not costmap.blocked(samples).any()


def test_goal_in_an_obstacle_or_walled_in_is_unreachable() -> None:
    costmap = wall_grid().costmap(0.45)
    with pytest.raises(GoalInObstacleError, match="closer than the robot's footprint allows"):
        GridPlanner().plan(costmap, np.array([0.0, 0.0]), np.array([2.0, 0.0]))
    grid = OccupancyGrid(GridConfig(resolution=0.1, size=10.0))
    angles = np.linspace(0, 2 * math.pi, 200)
    ring = np.stack([3 + 1.2 * np.cos(angles), 1.2 * np.sin(angles)], axis=1)
    ix, iy = np.floor((ring - grid.origin) / 0.1).astype(int).T
    grid.log_odds[ix, iy] = 3.0
    with pytest.raises(UnreachableError, match="no path"):
        GridPlanner().plan(grid.costmap(0.45), np.array([0.0, 0.0]), np.array([3.0, 0.0]))


def test_follower_turns_in_place_then_drives_within_its_limits() -> None:
    config = FollowerConfig(max_linear=0.5, max_angular=1.0, max_linear_accel=1.0, max_angular_accel=3.0)
    follower = PathFollower(config)
    path = np.array([[0.0, 0.0], [3.0, 0.0]])
    linear, angular = follower.drive(Pose2D(0.0, 0.0, math.pi / 2), path, 0.1)
    assert linear == 0.0 and angular < 0  # facing +y, the path runs along +x: turn right in place
    assert abs(angular) <= 3.0 * 0.1 + 1e-9  # the acceleration limit
    follower.reset()
    speeds = [follower.drive(Pose2D(0.0, 0.0, 0.0), path, 0.1)[0] for _ in range(10)]
    assert speeds[0] == pytest.approx(0.1) and speeds[-1] == pytest.approx(0.5)  # ramps up to the limit
    linear, angular = follower.drive(Pose2D(0.0, 0.2, 0.0), path, 0.1)
    assert linear > 0 and angular < 0  # left of the path: steer back right
    follower.reset()
    linear, angular = follower.drive(Pose2D(3.3, 0.05, 0.0), path, 0.1)
    assert linear < 0 and angular > 0  # 0.3 m behind: back onto it (nose left, tail right)
    follower.last = (0.5, 0.0)
    linear, _ = follower.turn_to(Pose2D(3.0, 0.0, 0.0), 1.0, 0.1)
    assert linear == pytest.approx(0.4, abs=0.02)  # braking is acceleration-limited too
    follower.reset()
    linear, angular = follower.turn_to(Pose2D(3.0, 0.0, 0.0), 1.0, 0.1)
    assert linear == 0 and angular > 0


def unicycle(pose: Pose2D, linear: float, angular: float, dt: float) -> Pose2D:
    yaw = pose.yaw + angular * dt
    return Pose2D(pose.x + linear * math.cos(yaw) * dt, pose.y + linear * math.sin(yaw) * dt, yaw)


def offset_unicycle(pose: Pose2D, linear: float, angular: float, dt: float, offset: float = 0.06) -> Pose2D:
    """A base whose base_link lies ``offset`` m ahead of the point it turns about: turning moves it."""
    centre = pose.xy - offset * np.array([math.cos(pose.yaw), math.sin(pose.yaw)])
    moved = unicycle(Pose2D(float(centre[0]), float(centre[1]), pose.yaw), linear, angular, dt)
    x, y = moved.xy + offset * np.array([math.cos(moved.yaw), math.sin(moved.yaw)])
    return Pose2D(float(x), float(y), moved.yaw)


def navigator(grid: OccupancyGrid, **config: float) -> Navigator:
    follower = PathFollower(FollowerConfig(max_linear=0.6, max_angular=1.0))
    return Navigator(grid, GridPlanner(), follower, NavigatorConfig(footprint_radius=0.45, **config))


def test_navigator_reaches_the_goal_around_a_wall() -> None:
    grid = wall_grid()
    nav = navigator(grid)
    clearance = grid.costmap(0.45).clearance
    pose, now, goal = Pose2D(0.0, 0.0, 0.0), 0.0, Pose2D(4.0, 0.3, math.pi / 2)
    nav.start(goal, goal.yaw, 0.1, 0.1, now, 120.0)
    states, closest = set(), math.inf
    for _ in range(1200):
        step = nav.step(pose, now)
        states.add(step.state)
        if step.done:
            break
        pose, now = unicycle(pose, step.linear, step.angular, 0.1), now + 0.1
        ix, iy = np.floor((pose.xy - grid.origin) / 0.05).astype(int)
        closest = min(closest, clearance[ix, iy])
    assert step.done, (pose, nav.recoveries)
    assert math.dist(pose.xy, goal.xy) <= 0.1 and abs(pose.yaw - goal.yaw) <= 0.1
    assert closest >= 0.45 - 0.05 and nav.recoveries == 0
    assert NavState.PLANNING in states and NavState.DRIVING in states
    assert now < 30


def drive(nav: Navigator, pose: Pose2D, goal: Pose2D, seconds: float = 60.0) -> tuple[Pose2D, float, object]:
    """Run ``nav`` to ``goal`` (its heading) on a unicycle at 10 Hz: the last pose, time and step."""
    now = 0.0
    nav.start(goal, goal.yaw, 0.1, 0.1, now, seconds)
    for _ in range(int(seconds * 10)):
        step = nav.step(pose, now)
        if step.done:
            break
        pose, now = unicycle(pose, step.linear, step.angular, 0.1), now + 0.1
    return pose, now, step


def test_a_goal_just_inside_the_inflation_ends_at_the_nearest_free_spot_not_a_timeout() -> None:
    grid = wall_grid()  # the wall's face at x = 1.9; the footprint (0.45 + 0.05) keeps x <= 1.4
    nav = navigator(grid)
    pose, now, step = drive(nav, Pose2D(0.0, 0.0, 0.0), Pose2D(1.6, 0.0, 0.0))  # 0.3 m from the wall
    assert step.done and now < 20, (pose, now)
    assert 1.25 < pose.x < 1.45 and 0.15 < nav.shortfall < 0.35, (pose, nav.shortfall)
    assert nav.position_error(pose) <= 0.1  # measured to the spot it stopped at


def test_a_long_base_drives_up_to_a_wall_as_near_as_its_half_width_allows() -> None:
    grid = wall_grid()  # the wall's face at x = 1.9
    nav = navigator(grid, inscribed_radius=0.25)  # 0.45 m turning in place, 0.25 m wide to each side
    goal = Pose2D(1.55, 0.0, 0.0)  # 0.35 m from the wall, facing it
    pose, _, step = drive(nav, Pose2D(0.0, 0.4, 0.0), goal)
    assert step.done and nav.shortfall == 0.0 and math.dist(pose.xy, goal.xy) <= 0.1, (pose, nav.shortfall)
    with pytest.raises(InvalidArgumentError, match="inscribed_radius"):
        navigator(grid, inscribed_radius=0.5)


def test_a_stalled_base_recovers_then_fails_and_the_deadline_ends_a_goal() -> None:
    nav = navigator(OccupancyGrid(GridConfig()), max_recoveries=2, stall_time=1.0)
    pose, now = Pose2D(0.0, 0.0, 0.0), 0.0
    nav.start(Pose2D(3.0, 0.0, 0.0), None, 0.1, 0.1, now, 100.0)
    states = []
    with pytest.raises(StalledError, match=r"did not move.*after 2 recoveries"):
        for _ in range(500):  # the pose never changes: held by something the cameras miss
            states.append(nav.step(pose, now).state)
            now += 0.1
    assert NavState.STALLED in states and NavState.RECOVERING in states and nav.recoveries == 2
    nav.start(Pose2D(3.0, 0.0, 0.0), None, 0.1, 0.1, 0.0, 2.0)
    with pytest.raises(MaestroTimeoutError, match=r"timed out 3\.00 m from the goal"):
        nav.step(pose, 2.5)


def test_goal_checks_name_the_bad_field_and_fill_defaults() -> None:
    defaults = SimpleNamespace(
        position_tolerance=0.1, yaw_tolerance=0.15, timeout=120.0, follower=FollowerConfig(max_linear=0.5)
    )

    def request(x: float = 1.0, **fields: float) -> SimpleNamespace:
        position = SimpleNamespace(x=x, y=0.0, z=0.0)
        orientation = SimpleNamespace(x=0.0, y=0.0, z=0.0, w=1.0)
        goal = SimpleNamespace(pose=SimpleNamespace(position=position, orientation=orientation))
        goal.header = SimpleNamespace(frame_id="map")
        values = {"position_tolerance": 0.0, "yaw_tolerance": 0.0, "timeout": 0.0, "behavior": ""}
        values |= {"max_speed": 0.0, **fields}
        return SimpleNamespace(goal=goal, **values)

    spec = check_goal(request(), defaults)
    assert (spec.position_tolerance, spec.yaw_tolerance, spec.timeout) == (0.1, 0.15, 120.0)
    assert check_goal(request(yaw_tolerance=-1.0), defaults).yaw_tolerance < 0  # any heading
    with pytest.raises(InvalidArgumentError, match=r"goal.pose.position.x is nan"):
        check_goal(request(x=float("nan")), defaults)
    with pytest.raises(InvalidArgumentError, match="timeout = -1 s is out of range"):
        check_goal(request(timeout=-1.0), defaults)
    assert check_goal(request(behavior="push"), defaults).push and not spec.push
    with pytest.raises(InvalidArgumentError, match="behavior = 'fly' is unknown; valid: '', 'push'"):
        check_goal(request(behavior="fly"), defaults)
    assert spec.speed_scale == 1.0  # max_speed: a fraction of the top speed, over it the top speed
    assert check_goal(request(max_speed=0.25), defaults).speed_scale == pytest.approx(0.5)
    assert check_goal(request(max_speed=3.0), defaults).speed_scale == 1.0
    with pytest.raises(InvalidArgumentError, match=r"max_speed = 0.05 .*valid: 0 .* or >= 0.1"):
        check_goal(request(max_speed=0.05), defaults)


def test_a_final_turn_that_moves_the_base_off_the_goal_is_followed_by_a_new_approach() -> None:
    nav = navigator(OccupancyGrid(GridConfig()))
    pose, now, goal = Pose2D(0.0, 0.0, 0.0), 0.0, Pose2D(2.0, 0.0, math.pi)  # arrives facing away
    nav.start(goal, goal.yaw, 0.08, 0.1, now, 120.0)
    for _ in range(1500):
        step = nav.step(pose, now)
        if step.done:
            break
        pose, now = offset_unicycle(pose, step.linear, step.angular, 0.1), now + 0.1
    assert step.done and now < 20, now
    # Turning 180 deg about a point 0.06 m behind base_link moves it 0.12 m: approached again.
    assert nav.position_error(pose) <= 0.08 and nav.yaw_error(pose) <= 0.1
