"""Motion against the observed scene, without ROS: lines blocked by objects, planned paths around them,
held objects moving with the hand, and the stall watch."""

from __future__ import annotations

import numpy as np
import pytest

from maestro_tools.common.errors import CollisionError
from maestro_tools.mapping.furniture_source import MapObstacleConfig
from maestro_tools.motion.kinematics import ArmKinematics, time_path
from maestro_tools.motion.mapped_furniture import furniture_points
from maestro_tools.motion.obstacles import HeldVolume
from maestro_tools.motion.path_builder import AUTO, CARTESIAN, PLANNED, PathBuilder
from maestro_tools.motion.planner import JointSpacePlanner
from maestro_tools.motion.tracking import TrackingWatch
from maestro_tools.perception.cloud import depth_cloud, scene_points, with_hidden_side
from maestro_tools.sim.control import validate_trajectory
from maestro_tools.sim.world import SimWorld
from test.sim.franka_cell import CELL_SURFACES, HOME, franka_model
from test.sim.test_modules import frame


@pytest.fixture(scope="module")
def builder() -> PathBuilder:
    kinematics = ArmKinematics(franka_model())
    return PathBuilder(kinematics, JointSpacePlanner(franka_model()))


@pytest.fixture(scope="module")
def world() -> SimWorld:
    sim = SimWorld("clean_table", 3, width=640, height=480)
    yield sim
    sim.close()


def down(x: float, y: float, z: float) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = np.diag([1.0, -1.0, -1.0]), [x, y, z]
    return pose


def cloud_seen_at(world: SimWorld, q: np.ndarray) -> dict[str, np.ndarray]:
    """The scene camera's cloud and viewpoint with the simulated arm at ``q`` (as the node grabs them)."""
    world.set_arm(q)
    seen = frame(world, "scene")
    return {
        "cloud": scene_points(depth_cloud(seen), CELL_SURFACES, limit=400_000),
        "viewpoint": seen.camera_pose[:3, 3],
    }


def across_the_can(builder: PathBuilder, world: SimWorld) -> tuple[np.ndarray, np.ndarray, dict]:
    """A start beyond the green can, a target on its other side, and the scene camera's view from the
    start. The camera looks from -y: starting beyond the can keeps the arm from hiding it (the planner
    treats what no camera sees as free, like the space behind the arm)."""
    can = world.position("green can")
    start = builder.kinematics.solve(down(can[0], can[1] + 0.15, 0.04), np.array(HOME)).q
    return start, down(can[0], can[1] - 0.13, 0.04), cloud_seen_at(world, start)


def can_moved_by(world: SimWorld, start: np.ndarray, path: list[np.ndarray]) -> float:
    """Execute ``path`` from ``start`` in a fresh scene; how far (m) the green can was pushed."""
    world.reset("clean_table", 3)
    world.set_arm(start)
    world.step_for(0.3)
    before = world.position("green can")
    times = time_path(start, path, 0.8)
    world.start_trajectory(validate_trajectory(world.limits, world.limits.names, times, path))
    world.step_for(float(times[-1]) + 0.5)
    return float(np.linalg.norm(world.position("green can") - before))


def test_a_line_through_an_object_is_blocked_and_auto_plans_around_it(
    builder: PathBuilder, world: SimWorld
) -> None:
    start, target, seen = across_the_can(builder, world)
    line = builder.to_poses(start, [target], CARTESIAN)  # robot and table only: the line is "fine"
    assert line.planned_segments == 0
    assert can_moved_by(world, start, line.waypoints) > 0.02  # ...and knocks the can away
    with pytest.raises(CollisionError, match=r"blocked .* try path 'auto' or 'planned'"):
        builder.to_poses(start, [target], CARTESIAN, **seen)
    for mode in (AUTO, PLANNED):
        motion = builder.to_poses(start, [target], mode, **seen)
        assert motion.planned_segments == 1 and motion.obstacle_points > 500
        assert builder.planner.first_collision(motion.waypoints) is None
        tcp = builder.kinematics.fk(motion.waypoints[-1])[:3, 3]
        assert np.linalg.norm(tcp - target[:3, 3]) < 0.005
        assert can_moved_by(world, start, motion.waypoints) < 0.005  # over it or around it, untouched


def test_a_further_cameras_cloud_keeps_the_arm_clear_as_the_scene_cameras_does(
    builder: PathBuilder, world: SimWorld
) -> None:
    start, target, seen = across_the_can(builder, world)
    others = [(seen["cloud"], seen["viewpoint"])]  # the can as only another camera sees it
    nothing = {"cloud": np.zeros((0, 3)), "viewpoint": np.array([0.0, -1.0, 0.5])}
    with pytest.raises(CollisionError, match="blocked"):
        builder.to_poses(start, [target], CARTESIAN, others=others, **nothing)
    assert len(builder.planner.obstacles.visible) == 0  # obstacles, not surfaces a contact may touch
    with pytest.raises(CollisionError, match="blocked"):  # no scene camera frame: the other one alone
        builder.to_poses(start, [target], CARTESIAN, others=others)
    motion = builder.to_poses(start, [target], AUTO, others=others, **nothing)
    assert motion.planned_segments == 1 and motion.obstacle_points > 500
    assert builder.planner.first_collision(motion.waypoints) is None


def test_reaching_into_the_target_is_allowed(builder: PathBuilder, world: SimWorld) -> None:
    world.reset("clean_table", 3)  # independent of what earlier tests left in the shared world
    block = world.position("red block")
    above = builder.kinematics.solve(down(block[0], block[1], 0.2), np.array(HOME)).q
    motion = builder.to_poses(above, [down(*block[:2], block[2])], CARTESIAN, **cloud_seen_at(world, above))
    assert motion.planned_segments == 0 and len(motion.waypoints) > 10


def test_what_the_gripper_holds_moves_with_it(builder: PathBuilder) -> None:
    start = builder.kinematics.solve(down(0.45, -0.2, 0.15), np.array(HOME)).q
    rng = np.random.default_rng(1)
    held = np.column_stack([0.45 + rng.uniform(-0.02, 0.02, 300), -0.2 + rng.uniform(-0.02, 0.02, 300)])
    held = np.column_stack([held, rng.uniform(0.085, 0.14, 300)])  # 6 cm of object below the TCP
    wall = np.column_stack([rng.uniform(0.4, 0.5, 2000), rng.uniform(-0.01, 0.01, 2000)])
    wall = np.column_stack([wall, rng.uniform(0.0, 0.09, 2000)])  # 9 cm high: 6 cm under the TCP
    cloud, target = np.vstack([held, wall]), down(0.45, 0.2, 0.15)
    assert builder.to_poses(start, [target], CARTESIAN, cloud, held=None).planned_segments == 0
    wide = PathBuilder(builder.kinematics, JointSpacePlanner(franka_model(), clearance=0.08))
    with pytest.raises(CollisionError, match="blocked"):  # 8 cm of clearance: the 6 cm gap is too small
        wide.to_poses(start, [target], CARTESIAN, cloud, held=None)
    with pytest.raises(CollisionError, match="blocked"):
        builder.to_poses(start, [target], CARTESIAN, cloud, held=HeldVolume())
    assert len(builder.planner.arm.held) > 50
    motion = builder.to_poses(start, [target], AUTO, cloud, held=HeldVolume())
    assert motion.planned_segments == 1 and builder.planner.first_collision(motion.waypoints) is None


def test_a_held_objects_far_end_counts_as_held_not_as_an_obstacle(builder: PathBuilder) -> None:
    """The self-filter uses this motion's held object, not the previous motion's: the part of a long
    object that sticks out of the gripper's box is neither held nor an obstacle beside the hand."""
    start = builder.kinematics.solve(down(0.45, -0.2, 0.15), np.array(HOME)).q
    rng = np.random.default_rng(2)
    rod = np.column_stack([0.45 + rng.uniform(-0.01, 0.01, 600), -0.2 + rng.uniform(-0.01, 0.01, 600)])
    rod = np.column_stack([rod, rng.uniform(0.04, 0.15, 600)])  # 3 cm of it below the gripper's box
    lift = down(0.45, -0.2, 0.3)
    builder.to_poses(start, [lift], CARTESIAN, np.zeros((0, 3)), held=None)  # nothing held before
    motion = builder.to_poses(start, [lift], CARTESIAN, rod, held=HeldVolume())
    assert motion.planned_segments == 0 and len(builder.planner.arm.held) > 20
    assert len(builder.planner.obstacles) == 0


def test_the_held_objects_box_attaches_all_of_it(builder: PathBuilder) -> None:
    """A tray held at one end reaches 22 cm beyond the fingers: with the gripper's volume only, its far
    end stays in the scene and blocks a move along it; with its box (MoveIt's attached object) all of it
    moves with the hand."""
    start = builder.kinematics.solve(down(0.45, -0.2, 0.15), np.array(HOME)).q
    rng = np.random.default_rng(3)
    tray = np.column_stack(
        [rng.uniform(0.43, 0.67, 3000), rng.uniform(-0.22, -0.18, 3000), rng.uniform(0.145, 0.155, 3000)]
    )
    along = down(0.6, -0.2, 0.15)
    with pytest.raises(CollisionError, match="blocked"):
        builder.to_poses(start, [along], CARTESIAN, tray, held=HeldVolume())
    box = np.eye(4)
    box[:3, 3] = [0.1, 0.0, 0.0]  # the tray's centre in the TCP frame (down(): TCP x is base x)
    motion = builder.to_poses(
        start, [along], CARTESIAN, tray, held=HeldVolume(box, np.array([0.24, 0.04, 0.01]))
    )
    assert motion.planned_segments == 0 and len(builder.planner.obstacles) == 0
    assert np.max(builder.planner.arm.held_points(builder.planner._data_at(start))[:, 0]) > 0.65
    # A drawer's front wall beyond its far end, a little higher than the tray, seen from further out and
    # above: the space filled in behind the wall reaches the tray; the tray is there: no obstacle.
    wall = np.column_stack([np.full(800, 0.73), rng.uniform(-0.25, -0.15, 800), rng.uniform(0.08, 0.18, 800)])
    viewpoint = np.array([1.5, -0.2, 0.6])
    hidden = with_hidden_side(wall, viewpoint, ())
    assert np.min(np.linalg.norm(hidden[:, None] - tray[None, ::10], axis=2)) < 0.01
    lift = down(0.45, -0.2, 0.25)
    held = HeldVolume(box, np.array([0.24, 0.04, 0.01]))
    motion = builder.to_poses(
        start, [lift], CARTESIAN, np.vstack([tray, wall]), held=held, viewpoint=viewpoint
    )
    assert motion.planned_segments == 0


def test_a_start_in_collision_steps_out_to_the_nearest_free_configuration(builder: PathBuilder) -> None:
    planner = builder.planner
    planner.use_scene(None, np.array(HOME))
    start = builder.kinematics.solve(down(0.5, 0.0, 0.03), np.array(HOME)).q
    for _ in range(40):  # shoulder forward: the fingers go down into the table
        if planner.in_collision(start):
            break
        start = start + [0.0, 0.005, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert "would hit" in str(planner.collision(start))
    path = planner.plan(start, np.array(HOME))
    assert np.max(np.abs(path[0] - start)) <= 0.1 and planner.first_collision(path) is None
    assert np.allclose(path[-1], HOME)


def test_joint_goals_take_the_direct_move_unless_it_is_blocked(builder: PathBuilder) -> None:
    start, goal = np.array(HOME), np.array(HOME) + [0.8, 0.3, 0.0, 0.4, 0.0, -0.3, 0.0]
    direct = builder.to_joints(start, goal, AUTO)
    assert direct.planned_segments == 0 and len(direct.waypoints) == 1
    planned = builder.to_joints(start, goal, PLANNED)
    assert planned.planned_segments == 1 and np.allclose(planned.waypoints[-1], goal)


def test_the_watch_reports_waypoints_distance_and_stalls() -> None:
    kinematics = ArmKinematics(franka_model())
    home = np.array(HOME)
    watch = TrackingWatch(
        [f"joint{i}" for i in range(1, 8)], np.array([0.5, 1.0, 1.5, 2.0]), [2, 4],
        kinematics.fk(home)[:3, 3], kinematics.fk, tolerance=0.15, stall_time=0.3,
    )  # fmt: skip
    assert watch.update(0.2, home, home).waypoint == 0
    state = watch.update(1.2, home, home)
    assert state.waypoint == 1 and state.distance_remaining < 1e-9
    lagging = home + [0, 0, 0, 0.3, 0, 0, 0]
    watch.update(1.3, lagging, home)
    watch.update(1.5, home, home)  # caught up: the lag clock restarts
    watch.update(1.6, lagging, home)
    assert not watch.stalled
    watch.update(1.95, lagging, home)
    assert "joint4 lags its trajectory by 0.30 rad" in watch.stalled


def test_a_planned_path_that_clips_between_checks_is_searched_again(
    builder: PathBuilder, world: SimWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OMPL checks edges at discrete steps; the planner checks the waypoints it returns and searches again
    when one of them collides, so what it returns is free at every waypoint."""
    planner = builder.planner
    start, target, seen = across_the_can(builder, world)
    goal = builder.kinematics.solve(target, start).q
    planner.use_scene(seen["cloud"], start, goal, viewpoint=seen["viewpoint"])
    checks = []
    real = planner.first_collision

    def clipped_once(path: list[np.ndarray]) -> int | None:
        checks.append(len(path))
        return 1 if len(checks) == 1 else real(path)  # the first path found "clips" at its 2nd waypoint

    monkeypatch.setattr(planner, "first_collision", clipped_once)
    path = planner.plan(start, goal, timeout=10.0)  # both searches share the budget: room on a loaded machine
    assert len(checks) == 2 and real(path) is None
    np.testing.assert_allclose(path[-1], goal, atol=1e-6)


def test_mapped_furniture_faces_keep_the_arm_clear_with_nothing_seen(
    builder: PathBuilder, world: SimWorld
) -> None:
    """A box the semantic map remembers (here around the green can) and no camera sees: its faces, with no
    viewpoint and nothing filled in behind them, block the line and the planned path goes around."""
    start, _, _ = across_the_can(builder, world)
    can = world.position("green can")
    target = down(can[0], can[1] - 0.2, 0.04)
    box = np.eye(4)
    box[:3, 3] = [can[0], can[1], can[2]]
    extent = np.array([0.066, 0.066, 2 * can[2]])  # the can
    faces = furniture_points([("cabinet", box, extent)], np.eye(4), 2.0, MapObstacleConfig(min_size=0.05))
    nothing = {"cloud": np.zeros((0, 3)), "viewpoint": np.array([0.0, -1.0, 0.5])}
    with pytest.raises(CollisionError, match="blocked"):
        builder.to_poses(start, [target], CARTESIAN, others=[(faces, None)], **nothing)
    motion = builder.to_poses(start, [target], AUTO, others=[(faces, None)], **nothing)
    assert motion.planned_segments == 1 and motion.obstacle_points > 100
    assert builder.planner.first_collision(motion.waypoints) is None


def test_a_goal_posture_that_collides_turns_to_a_free_one_for_the_same_pose(builder: PathBuilder) -> None:
    """Something where the IK's first posture has its elbow (a cabinet beside the arm): the Panda reaches
    the same pose with its elbow swung aside."""
    target = down(0.45, 0.25, 0.15)
    first = builder.kinematics.solve_from_any(target, np.array(HOME)).q
    elbow = builder.planner._data_at(first).xpos[builder.planner.model.body("panda/link4").id]
    box = np.eye(4)
    box[:3, 3] = elbow
    cabinet = [("cabinet", box, np.full(3, 0.04))]
    faces = furniture_points(cabinet, np.eye(4), 3.0, MapObstacleConfig(min_size=0.02))
    nothing = {"cloud": np.zeros((0, 3)), "viewpoint": np.array([0.0, -1.0, 0.5])}
    builder.planner.use_scene(None, np.array(HOME), None, None, None, [(faces, None)])
    builder.planner.allow_target(first)
    assert "panda_link" in str(builder.planner.collision(first))
    motion = builder.to_poses(np.array(HOME), [target], AUTO, others=[(faces, None)], **nothing)
    assert builder.planner.first_collision(motion.waypoints) is None
    assert np.allclose(builder.kinematics.fk(motion.waypoints[-1])[:3, 3], target[:3, 3], atol=0.003)
