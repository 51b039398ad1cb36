"""Each task's rubric, driven by setting simulator state: untouched scenes score 0, solved ones 100."""

from __future__ import annotations

import numpy as np
import pytest
import transforms3d

from maestro_tools.sim.world import SimWorld


@pytest.fixture(scope="module")
def world() -> SimWorld:
    sim = SimWorld("ball_in_bowl", 0, width=160, height=120)
    yield sim
    sim.close()


def quat_from(rotation: np.ndarray) -> np.ndarray:
    return transforms3d.quaternions.mat2quat(rotation)


def test_rotate_cube_purple_up(world: SimWorld) -> None:
    world.reset("rotate_cube", 1)
    world.step_for(0.5)
    assert world.progress()[0] == 0.0
    yaw = world.rotation("cube")
    turn = transforms3d.euler.euler2mat(0, -np.pi / 2, 0)  # the cube's +x (purple) face to +z
    world.set_object_pose("cube", world.position("cube") + [0, 0, 0.005], quat_from(yaw @ turn))
    world.step_for(1.0)
    score, stages = world.progress()
    assert score == 100.0 and stages[1].reached


@pytest.mark.parametrize(("angle", "expected"), [(0.0, 0.0), (-0.5, 50.0), (-1.0, 75.0), (-1.6, 100.0)])
def test_open_cabinet_scores_the_door_angle(world: SimWorld, angle: float, expected: float) -> None:
    world.reset("open_cabinet", 0)
    address = world.model.jnt_qposadr[world.model.joint("lower_door/hinge").id]
    world.data.qpos[address] = angle
    world.step_for(0.1)
    assert world.progress()[0] == expected


def test_hang_mug_on_the_peg(world: SimWorld) -> None:
    world.reset("hang_mug", 0)
    world.step_for(0.5)
    assert world.progress()[0] == 0.0
    stand = world.rotation("mug hanger stand")
    mug_rotation = stand @ transforms3d.euler.euler2mat(0, 0, np.pi / 2)  # the handle's hole along the peg
    peg = world.data.site_xpos[world.model.site("stand/peg_middle").id].copy()
    hole_top = np.array([0.038 + 0.0175, 0.0, 0.09 * 0.7])  # just under the handle's upper arm
    world.set_object_pose("mug cup", peg - mug_rotation @ hole_top, quat_from(mug_rotation))
    world.step_for(3.0)
    score, stages = world.progress()
    assert stages[2].reached, "the handle did not stay at the peg"
    assert score == 100.0, [s for s in stages if s.reached]


def test_erase_whiteboard_then_stack(world: SimWorld) -> None:
    world.reset("erase_whiteboard", 0)
    task = world.task
    assert task.written.startswith("STACK ")
    board = world.position("whiteboard")
    eraser_z = board[2] + 0.006 + 0.017 - 0.0005
    for x in sorted({x for x, _ in task.cell_centres}):  # wipe row by row, the pad sliding on the board
        for y in np.arange(-0.2, 0.2, 0.004):
            world.set_object_pose("eraser", np.array([board[0] + x, board[1] + y, eraser_z]), [1, 0, 0, 0])
            world.step(10)
    world.set_object_pose("eraser", np.array([0.35, 0.4, 0.02]), [1, 0, 0, 0])
    world.step_for(0.3)
    assert world.progress()[0] == 40.0
    assert (world.model.geom_rgba[task.cover_geoms, 3] == 1.0).all()
    bottom = world.position(task.bottom)
    world.set_object_pose(task.top, bottom + [0, 0, 0.046])
    world.step_for(1.0)
    assert world.progress()[0] == 100.0


def test_fold_towel_counts_corners_on_top_near_the_centre(world: SimWorld) -> None:
    import mujoco

    world.reset("fold_towel", 0)
    world.step_for(0.5)
    task = world.task
    assert world.progress()[0] == 0.0 and task.folded_corners(world) == 0
    n = task.count
    centre = task.vertices(world)[(n * n) // 2].copy()
    flex = mujoco.mj_name2id(world.model, mujoco.mjtObj.mjOBJ_FLEX, "towel/cloth")
    first_body = world.model.flex_vertbodyid[world.model.flex_vertadr[flex]]
    for k, corner in enumerate((0, n - 1, n * (n - 1), n * n - 1), start=1):
        body = first_body + corner
        address = world.model.jnt_qposadr[world.model.body_jntadr[body]]
        target = centre + [0.01, 0.0, 0.01]
        frame = world.data.xpos[body] - world.data.qpos[address : address + 3]  # slides measure from here
        world.data.qpos[address : address + 3] = target - frame
        mujoco.mj_forward(world.model, world.data)
        assert task.folded_corners(world) == k
    ids = world.segmentation("scene")
    assert (ids == world.instance_labels.index("towel")).sum() > 100  # the flex is labelled too


def test_clean_table_keeps_the_order_through_a_bump(world: SimWorld) -> None:
    """The can knocked over the rim for a moment while the smallest item goes in is still second (the CI
    run that scored 65 had the order [largest, smallest, can]); one left out for good drops out."""
    world.reset("clean_table", 0)
    world.step_for(0.3)
    task, bowl = world.task, world.position("bowl")
    largest, can, smallest = task.by_size()
    for label, spot in ((largest, [-0.045, -0.03]), (can, [0.045, -0.03])):
        world.set_object_pose(label, bowl + [*spot, 0.045], [1, 0, 0, 0])
        world.step_for(1.0)
    assert task.order == [largest, can]
    world.set_object_pose(can, bowl + [0.045, -0.03, 0.25], [1, 0, 0, 0])  # in the air over the bowl
    world.set_object_pose(smallest, bowl + [0.0, 0.05, 0.03], [1, 0, 0, 0])
    world.step_for(1.5)
    assert task.order == [largest, can, smallest]
    assert world.progress()[0] == 100.0
    world.set_object_pose(can, bowl + [0.0, 0.3, 0.04], [1, 0, 0, 0])  # out on the table
    world.step_for(1.5)
    assert task.order == [largest, smallest]
