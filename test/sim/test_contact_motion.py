"""Contact on purpose, without ROS: the arc move opens the cabinet door, a stroke on the whiteboard that
the normal mode refuses runs in contact mode and wipes the ink, refusals name what the path would hit,
the contact depth limit, and the ink that a drop does not erase but a stroke does."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pytest
from transforms3d.euler import euler2mat

from maestro_agent.proxy.geometry import Geometry, arc_poses
from maestro_tools.common.errors import CollisionError
from maestro_tools.motion.kinematics import ArmKinematics, time_path
from maestro_tools.motion.obstacles import HeldVolume
from maestro_tools.motion.path_builder import AUTO, CARTESIAN, PathBuilder
from maestro_tools.motion.planner import JointSpacePlanner
from maestro_tools.motion.tracking import TrackingWatch
from maestro_tools.sim.control import validate_trajectory
from maestro_tools.sim.tasks.erase_whiteboard import PAD_HALF
from maestro_tools.sim.world import SimWorld
from test.sim.franka_cell import franka_model
from test.sim.test_motion_scene import cloud_seen_at, down


@pytest.fixture(scope="module")
def builder() -> PathBuilder:
    return PathBuilder(ArmKinematics(franka_model()), JointSpacePlanner(franka_model()))


@pytest.fixture(scope="module")
def world() -> Iterator[SimWorld]:
    sim = SimWorld("open_cabinet", 0, width=640, height=480)
    yield sim
    sim.close()


def pose(position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = rotation, position
    return matrix


def execute(world: SimWorld, start: np.ndarray, path: list[np.ndarray], speed: float = 0.3) -> np.ndarray:
    times = time_path(start, path, 0.8 * speed)
    world.start_trajectory(validate_trajectory(world.limits, world.limits.names, times, path))
    world.step_for(float(times[-1]) + 0.5)
    return world.arm_positions()


def move(
    builder: PathBuilder, world: SimWorld, target: np.ndarray, path: int = AUTO, **options: object
) -> None:
    start = world.arm_positions()
    motion = builder.to_poses(start, [target], path, **cloud_seen_at(world, start), **options)
    execute(world, start, motion.waypoints, 1.0 if path == AUTO else 0.3)


def test_the_arc_move_opens_the_cabinet_door(builder: PathBuilder, world: SimWorld) -> None:
    world.reset("open_cabinet", 0)
    sites = world.named_sites()  # what the sim keypointer answers for the handle and the hinge
    handle, hinge = sites["lower door/handle"], sites["lower door/hinge"]
    facing = euler2mat(0.0, np.pi / 2, 0.0, "sxyz")  # horizontal, approaching along +x, fingers along y
    move(builder, world, pose(handle - [0.10, 0.0, 0.0], facing))
    move(builder, world, pose(handle + [0.005, 0.0, 0.0], facing), CARTESIAN)
    world.set_gripper(0.0, 40.0)
    world.step_for(1.0)
    assert world.grasped(world.task.handle)

    start = world.arm_positions()
    arc = arc_poses(world.tcp_pose(), hinge, np.array([0.0, 0.0, 1.0]), -85.0)
    seen = cloud_seen_at(world, start)
    motion = builder.to_poses(start, arc, CARTESIAN, held=HeldVolume(), contact_depth=0.01, **seen)
    assert motion.planned_segments == 0 and len(motion.segment_ends) == len(arc)
    execute(world, start, motion.waypoints)
    assert world.task.opening(world) > 80.0
    assert world.progress()[0] == 100.0
    tcp = world.tcp_pose()[:3, 3]
    assert abs(np.linalg.norm((tcp - hinge)[:2]) - np.linalg.norm((handle - hinge)[:2])) < 0.01


def grasp_the_eraser(builder: PathBuilder, world: SimWorld) -> tuple[float, np.ndarray]:
    """Grasp the eraser across its narrow side (as grasping.pick would); the TCP's height above the pad
    and the gripper rotation."""
    rotation = world.rotation("eraser")
    yaw = (np.arctan2(rotation[1, 0], rotation[0, 0]) + np.pi) % np.pi - np.pi / 2
    gripper = euler2mat(np.pi, 0.0, yaw, "sxyz")  # fingers close along the eraser's x (5 cm)
    eraser = world.position("eraser")
    move(builder, world, pose(eraser + [0.0, 0.0, 0.15], gripper))
    move(builder, world, pose(eraser + [0.0, 0.0, 0.005], gripper), CARTESIAN)
    world.set_gripper(0.0, 140.0)
    world.step_for(1.0)
    assert world.grasped("eraser")
    return world.tcp_pose()[2, 3] - (world.position("eraser")[2] - 0.017), gripper


def test_contact_mode_allows_a_stroke_the_normal_mode_refuses_and_it_wipes(
    builder: PathBuilder, world: SimWorld
) -> None:
    world.reset("erase_whiteboard", 0)
    offset, gripper = grasp_the_eraser(builder, world)
    board = world.position("whiteboard")
    corners = [board + [sx * 0.09, sy * 0.16, 0.0] for sx in (-1, 1) for sy in (-1, 1)]
    path = Geometry().wipe_path(corners, board[2] + 0.006 + offset - 0.004, spacing=0.04, inset=0.03)
    move(builder, world, pose(path[0] + [0.0, 0.0, 0.15], gripper), held=HeldVolume())
    move(builder, world, pose(path[0] + [0.0, 0.0, 0.03], gripper), held=HeldVolume())
    start = world.arm_positions()
    seen = cloud_seen_at(world, start)
    strokes = [pose(p, gripper) for p in path]
    with pytest.raises(CollisionError) as refused:
        builder.to_poses(start, strokes, CARTESIAN, held=HeldVolume(), **seen)
    message = str(refused.value)
    assert "blocked" in message and "% of the way (" in message and "cm), with the gripper at [" in message
    assert "finger" in message and "of a seen object at [" in message and "move with contact on" in message
    motion = builder.to_poses(start, strokes, CARTESIAN, held=HeldVolume(), contact_depth=0.01, **seen)
    execute(world, start, motion.waypoints)
    assert world.grasped("eraser")
    assert world.task.wiped.mean() >= 0.9 and world.progress()[0] >= 36.0


def test_refusals_name_the_table_and_the_contact_depth(builder: PathBuilder) -> None:
    planner = builder.planner
    above = builder.kinematics.solve(down(0.5, 0.0, 0.03), np.array(franka_model().profile.arm.home)).q
    touching, deep = (
        above + [0.0, 0.06, 0, 0, 0, 0, 0],
        above + [0.0, 0.1, 0, 0, 0, 0, 0],
    )  # a finger: -4, -14 mm
    with pytest.raises(
        CollisionError, match=r"joint move is blocked .*panda_leftfinger would hit the table at \["
    ):
        builder.to_joints(above, deep, CARTESIAN)
    planner.set_contact(None)
    assert "panda_leftfinger would hit the table at [" in planner.collision(touching)
    planner.set_contact(0.01)  # contact on purpose: the fingers may touch the table 1 cm deep, not more
    try:
        assert planner.collision(touching) is None
        assert re.fullmatch(
            r"the robot's panda_leftfinger would press 2\.\d cm into the table at \[.*\] "
            r"\(contact depth limit 1\.0 cm\)",
            planner.collision(deep),
        )
    finally:
        planner.set_contact(None)


def test_a_contact_move_held_back_by_a_surface_stops() -> None:
    def fk(q: np.ndarray) -> np.ndarray:  # one prismatic joint along x
        matrix = np.eye(4)
        matrix[0, 3] = q[0]
        return matrix

    watch = TrackingWatch(["j"], np.array([1.0]), [1], np.zeros(3), fk, 10.0, 1.0, contact_limit=0.02)
    watch.update(0.5, np.array([0.1]), np.array([0.09]))
    assert not watch.pressed
    watch.update(0.6, np.array([0.12]), np.array([0.09]))
    watch.update(0.8, np.array([0.12]), np.array([0.09]))
    assert not watch.pressed  # held back for 0.2 s: a corner's tracking lag
    watch.update(0.9, np.array([0.12]), np.array([0.09]))
    assert "held 3.0 cm behind its path" in watch.pressed and "limit 2.0 cm" in watch.pressed


def test_the_ink_needs_the_pad_to_slide(world: SimWorld) -> None:
    world.reset("erase_whiteboard", 0)
    task, board = world.task, world.position("whiteboard")
    top = board[2] + 0.006
    world.set_object_pose("eraser", board + [0.0, 0.0, 0.006 + 0.017 + 0.03], [1, 0, 0, 0])
    world.step_for(1.5)  # dropped from 3 cm onto the writing: it lands and rests, erasing nothing
    assert world.touching("eraser", world.geoms_of("whiteboard")) and task.wiped.sum() == 0
    row = task.cell_centres[8:16]  # the middle row, slid over from one end to the other
    y0, y1 = row[0][1] - PAD_HALF[1], row[-1][1] + PAD_HALF[1]
    for y in np.arange(y0, y1, 0.004):
        world.set_object_pose(
            "eraser", np.array([board[0] + row[0][0], board[1] + y, top + 0.0165]), [1, 0, 0, 0]
        )
        world.step(10)
    assert task.wiped[1].all() and world.progress()[0] > 0
    assert (world.model.geom_rgba[task.cover_geoms[8:16], 3] == 1.0).all()
