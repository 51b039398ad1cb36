"""Module backends without ROS, on real simulator data: detection from rendered frames, grasps, IK."""

from __future__ import annotations

import numpy as np
import pytest

from maestro_tools.common.errors import InvalidArgumentError, NotFoundError, UnreachableError
from maestro_tools.grasping.top_down import top_down_grasps
from maestro_tools.motion.kinematics import ArmKinematics, time_path
from maestro_tools.perception.objects import CameraFrame, detect_objects, match_label
from maestro_tools.sim.world import SimWorld
from test.sim.franka_cell import ANTIPODAL, HOME, TOP_DOWN, frame, franka_model


@pytest.fixture(scope="module")
def world() -> SimWorld:
    sim = SimWorld("clean_table", 3, width=640, height=480)
    yield sim
    sim.close()


@pytest.fixture(scope="module")
def kinematics() -> ArmKinematics:
    return ArmKinematics(franka_model())


def test_detections_locate_every_object_from_the_scene_camera(world: SimWorld) -> None:
    detections = detect_objects(frame(world, "scene"), [])
    assert {d.label for d in detections} == {"red block", "green can", "blue cube", "bowl"}
    for detection in detections:
        truth = world.position(detection.label)
        assert np.linalg.norm(detection.pose[:2, 3] - truth[:2]) < 0.03, detection.label
        assert detection.mask.sum() > 50 and detection.box[2] > 5
    block = next(d for d in detections if d.label == "red block")
    assert abs(block.pose[2, 3] + block.extent[2] / 2 - 0.06) < 0.01  # its top is 6 cm up


def test_label_matching_and_unknown_labels(world: SimWorld) -> None:
    assert match_label("the can", ["green can", "bowl"]) == "green can"
    assert match_label("cube", ["blue cube", "purple cube"]) is None  # ambiguous
    with pytest.raises(NotFoundError, match=r"visible: .*red block"):
        detect_objects(frame(world, "scene"), ["unicorn"])


def test_top_down_grasps_close_across_the_narrow_side() -> None:
    pose = np.eye(4)
    pose[:3, 3] = [0.5, 0.1, 0.03]
    grasps = top_down_grasps(pose, np.array([0.12, 0.04, 0.06]), *TOP_DOWN)
    assert len(grasps) == 1  # 12 cm is wider than the gripper
    best = grasps[0]
    np.testing.assert_allclose(np.abs(best.pose[:3, 1]), [0, 1, 0], atol=1e-9)  # closing along y
    np.testing.assert_allclose(best.approach, [0, 0, -1])
    assert abs(best.width - 0.05) < 1e-9 and abs(best.pose[2, 3] - 0.03) < 1e-9
    assert top_down_grasps(pose, np.array([0.2, 0.2, 0.05]), *TOP_DOWN) == []
    with pytest.raises(InvalidArgumentError):
        top_down_grasps(np.full((4, 4), np.nan), np.ones(3), *TOP_DOWN)


def test_ik_and_cartesian_paths(kinematics: ArmKinematics) -> None:
    target = kinematics.fk(np.array(HOME))
    target[:3, 3] = [0.55, -0.2, 0.1]
    path = kinematics.cartesian_path(np.array(HOME), target)
    np.testing.assert_allclose(kinematics.fk(path[-1])[:3, 3], target[:3, 3], atol=0.003)
    steps = [np.max(np.abs(b - a)) for a, b in zip([np.array(HOME), *path[:-1]], path, strict=True)]
    assert max(steps) < 0.15  # consecutive waypoints stay close: no configuration flips
    times = time_path(np.array(HOME), path)
    assert np.all(np.diff(times) > 0)
    with pytest.raises(UnreachableError, match="out of reach"):
        far = target.copy()
        far[:3, 3] = [1.3, 0.0, 0.3]
        kinematics.solve(far, np.array(HOME))
    with pytest.raises(InvalidArgumentError, match="NaN"):
        kinematics.solve(np.full((4, 4), np.nan), np.array(HOME))


def test_rendered_overlays_land_on_the_objects(world: SimWorld, artifacts_dir) -> None:
    import cv2

    from maestro_tools.common.render import draw_detections, draw_grasps, draw_points, project

    seen = frame(world, "scene")
    detections = detect_objects(seen, [])
    boxed = draw_detections(
        seen.rgb, [d.label for d in detections], [d.box for d in detections], [d.mask for d in detections]
    )
    assert (boxed != seen.rgb).any() and (seen.rgb == frame(world, "scene").rgb).all()  # input untouched
    block = next(d for d in detections if d.label == "red block")
    grasp = top_down_grasps(block.pose, block.extent, *TOP_DOWN)[0]
    pixel, in_front = project(grasp.pose[:3, 3], seen.intrinsics, seen.camera_pose)
    x, y, w, h = block.box
    assert in_front[0] and x - 10 <= pixel[0, 0] <= x + w + 10 and y - 10 <= pixel[0, 1] <= y + h + 10
    drawn = draw_grasps(boxed, [grasp.pose], [grasp.width], seen.intrinsics, seen.camera_pose, ["grasp 1"])
    drawn = draw_points(drawn, [pixel[0]], ["grasp centre"])
    u, v = int(pixel[0, 0]), int(pixel[0, 1])
    assert (drawn[v - 12 : v + 12, u - 12 : u + 12] != boxed[v - 12 : v + 12, u - 12 : u + 12]).any()
    cv2.imwrite(str(artifacts_dir / "overlays_clean_table.png"), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))


def test_geometric_keypoints_on_the_object_surface(world: SimWorld) -> None:
    from maestro_tools.perception.keypoints import keypoint, parse_description

    seen = frame(world, "scene")
    top = keypoint(seen, "the top of the red block")
    block = world.position("red block")
    assert abs(top.position[2] - 0.06) < 0.006 and np.linalg.norm(top.position[:2] - block[:2]) < 0.03
    left, right = keypoint(seen, "left side of the bowl"), keypoint(seen, "the right of the bowl")
    assert left.position[1] - right.position[1] > 0.15  # the bowl is 22 cm across
    assert parse_description("the middle of the can") == ("centre", "can")
    with pytest.raises(InvalidArgumentError, match="geometric parts: centre, top"):
        keypoint(seen, "the handle of the bowl")


def test_geometric_detector_finds_the_clean_table_objects_by_colour(world: SimWorld) -> None:
    from maestro_tools.perception.geometric import clusters, colour_name, detect

    seen = frame(world, "scene")
    found = clusters(seen.rgb, seen.depth, seen.intrinsics, seen.camera_pose)
    names = {c.colour for c in found}
    assert {"red", "green", "blue"} <= names, names
    red = detect(seen.rgb, seen.depth, seen.intrinsics, seen.camera_pose, ["red cube"])[0]
    truth = world.position("red block")
    assert np.linalg.norm(red.pose[:2, 3] - truth[:2]) < 0.02 and red.mask.sum() > 30
    largest = detect(seen.rgb, seen.depth, seen.intrinsics, seen.camera_pose, ["the largest object"])[0]
    assert largest.extent[0] > 0.15  # the bowl
    with pytest.raises(NotFoundError, match="names objects by colour and size"):
        detect(seen.rgb, seen.depth, seen.intrinsics, seen.camera_pose, ["spatula"])
    assert colour_name(np.array([200, 30, 30])) == "red" and colour_name(np.array([40, 70, 220])) == "blue"


def test_planned_joint_paths_avoid_the_table_and_the_arm(kinematics: ArmKinematics) -> None:
    from maestro_tools.common.errors import CollisionError
    from maestro_tools.motion.planner import JointSpacePlanner

    planner = JointSpacePlanner(franka_model())
    start = np.array(HOME)
    goal = start + [1.2, 0.5, 0.0, 0.6, 0.0, -0.4, 0.0]
    path = planner.plan(start, goal)
    np.testing.assert_allclose(path[-1], goal, atol=1e-9)
    assert not any(planner.in_collision(q) for q in path)
    in_table = start.copy()
    in_table[1], in_table[3] = 1.5, -0.5  # reaching down through the table top
    assert planner.in_collision(in_table)
    with pytest.raises(CollisionError, match="would hit the table"):
        planner.plan(start, in_table)
    # A joint measured a hair past its limit (resting on its stop): OMPL refused such a start.
    robot = franka_model()
    on_stop = start.copy()
    on_stop[3] = robot.upper[3] + 5e-4
    assert planner.plan(on_stop, goal)[-1][3] <= robot.upper[3]


def box_surface(half: np.ndarray, count: int = 3000, seed: int = 0) -> np.ndarray:
    """Points on the surface of an axis-aligned box centred at the origin."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(-half, half, size=(count, 3))
    faces = rng.integers(0, 3, count)
    signs = rng.choice([-1.0, 1.0], count)
    points[np.arange(count), faces] = signs * half[faces]
    return points


def test_antipodal_grasps_on_a_box_cloud() -> None:
    from maestro_tools.grasping.antipodal import antipodal_grasps

    half = np.array([0.06, 0.02, 0.03])  # 12 x 4 x 6 cm: only the 4 cm side fits the gripper
    points = box_surface(half) + [0.5, 0.0, 0.03]
    grasps = antipodal_grasps(points, samples=300, **ANTIPODAL)
    assert grasps, "no antipodal grasp on a graspable box"
    best = grasps[0]
    assert abs(abs(best.pose[1, 1]) - 1.0) < 0.05  # closes across y, the narrow side
    assert 0.04 <= best.width <= 0.06 and best.score > 0.9
    assert best.pose[2, 2] < -0.9  # approaches from above
    assert (
        antipodal_grasps(box_surface(np.array([0.1, 0.1, 0.1])) + [0.5, 0, 0.1], samples=200, **ANTIPODAL)
        == []
    )
    with pytest.raises(InvalidArgumentError):
        antipodal_grasps(np.zeros((3, 3)), **ANTIPODAL)


def test_antipodal_grasps_on_a_rendered_cloud(world: SimWorld) -> None:
    from maestro_tools.grasping.antipodal import antipodal_grasps

    can = detect_objects(frame(world, "scene"), ["green can"])[0]
    grasps = antipodal_grasps(can.points, samples=300, **ANTIPODAL)  # the visible half of a 4.8 cm can
    for grasp in grasps:
        assert (
            grasp.width <= 0.08 and np.linalg.norm(grasp.pose[:2, 3] - world.position("green can")[:2]) < 0.04
        )


def test_named_sites_are_exact_keypoints_seen_where_the_camera_sees_them() -> None:
    from maestro_tools.common.render import project
    from maestro_tools.perception.keypoints import site_keypoints
    from maestro_tools.sim.ground_truth import render_view

    cabinet = SimWorld("open_cabinet", 0, width=640, height=480)
    try:
        view = render_view(cabinet, "scene")
        seen = CameraFrame(
            "scene",
            view.frame.rgb,
            view.frame.depth,
            view.instances,
            dict(enumerate(view.labels)),
            view.intrinsics,
            view.camera_pose,
            view.frame.time,
            view.sites,
        )
        hinge = site_keypoints(seen, "the door hinge side")[0]
        assert hinge.label == "lower door/hinge"
        handle = site_keypoints(seen, "the yellow door handle")[0]
        assert np.allclose(handle.position, cabinet.position("yellow door handle"))
        pixels, in_front = project(handle.position, view.intrinsics, view.camera_pose)
        u, v = np.round(pixels[0]).astype(int)
        assert in_front[0]
        around = view.instances[v - 3 : v + 4, u - 3 : u + 4]  # the site's pixel shows the handle
        assert view.labels.index("yellow door handle") in around
        with pytest.raises(NotFoundError, match="lower door/hinge"):
            site_keypoints(seen, "the spout of the kettle")
    finally:
        cabinet.close()
