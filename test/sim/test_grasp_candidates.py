"""Part grasps (rim, handle, flat, cloth_corner) on the objects of the tasks, from rendered frames (no ROS):
the detection's points as the grasp planner lifts them from its mask and depth, checked against the
simulator's named sites, the scene's depth points (collision) and the arm's IK (reachability)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from maestro_msgs.srv import Detect, PlanGrasp
from maestro_tools.common.conversions import pose_to_matrix
from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.common.render import STRATEGY_COLOURS, colour, draw_grasps, strategy_colour
from maestro_tools.grasping.collision import collision_free, opened_to
from maestro_tools.grasping.parts import (
    cloth_corner_grasps,
    flat_grasps,
    handle_grasps,
    part_grasps,
    pregrasp_opening,
    rim_grasps,
)
from maestro_tools.grasping.top_down import GraspCandidate
from maestro_tools.motion.kinematics import ArmKinematics
from maestro_tools.perception.cloud import depth_cloud, scene_points
from maestro_tools.perception.objects import CameraFrame, detect_objects
from maestro_tools.sim.world import SimWorld
from test.ros.helpers import call, ros_graph, spawn_node, stop, unique
from test.sim.franka_cell import CELL_SURFACES, GRIPPER, HOME, frame, franka_model

PARTS = {
    "max_width": GRIPPER.max_width,
    "finger_depth": GRIPPER.finger_depth,
    "pad_clearance": GRIPPER.pad_clearance,
}


@pytest.fixture(scope="module")
def world() -> Iterator[SimWorld]:
    sim = SimWorld("hang_mug", 0, width=640, height=480)
    yield sim
    sim.close()


def scene_of(world: SimWorld, task: str, perturbation: str = "none", camera: str = "scene") -> CameraFrame:
    world.reset(task, 0, perturbation)
    return frame(world, camera)


def points_of(view: CameraFrame, label: str) -> np.ndarray:
    return detect_objects(view, [label])[0].points


def reachable(kinematics: ArmKinematics, grasp: GraspCandidate) -> bool:
    """As the grasp planner judges it: IK for the pre-grasp 10 cm above, then for the grasp."""
    above = grasp.pose.copy()
    above[2, 3] += 0.1
    try:
        kinematics.solve(grasp.pose, kinematics.solve(above, HOME).q)
    except Exception:
        return False
    return True


def free(grasps: list[GraspCandidate], view: CameraFrame) -> list[GraspCandidate]:
    scene = scene_points(depth_cloud(view), CELL_SURFACES)
    opening = lambda c: pregrasp_opening(c.strategy, c.width, GRIPPER.max_width)  # noqa: E731
    return collision_free(grasps, scene, GRIPPER.volumes, 0.1, opening=opening, max_width=GRIPPER.max_width)


@pytest.mark.parametrize(("perturbation", "label"), [("none", "mug cup"), ("new_object", "blue cup")])
def test_rim_grasps_pinch_the_wall_away_from_the_handle(
    world: SimWorld, perturbation: str, label: str
) -> None:
    view = scene_of(world, "hang_mug", perturbation)
    sites = world.named_sites()
    centre, handle = world.position(label)[:2], sites["mug/handle"][:2]
    radius = float(np.linalg.norm(sites["mug/rim"][:2] - centre))
    grasps = rim_grasps(points_of(view, label), **PARTS)
    assert len(grasps) == 16 and {g.strategy for g in grasps} == {"rim"}
    for grasp in grasps:
        radial = grasp.pose[:2, 3] - centre
        assert abs(np.linalg.norm(radial) - radius) < 0.006  # on the wall
        assert abs(abs(grasp.pose[:2, 1] @ radial) / np.linalg.norm(radial) - 1) < 0.02  # closing across it
        np.testing.assert_allclose(grasp.approach, [0, 0, -1], atol=1e-9)
        assert grasp.width < 0.03 and grasp.score <= 0.5
    best = grasps[0]
    assert np.linalg.norm(best.pose[:2, 3] - sites["mug/rim"][:2]) < 0.01  # the rim site: opposite the handle
    assert np.linalg.norm(best.pose[:2, 3] - handle) > 2 * radius
    top = sites["mug/rim"][2]
    assert top - GRIPPER.finger_depth - 0.003 < best.pose[2, 3] < top - 0.02  # fingers over the wall
    kept = free(grasps, view)
    assert best in kept
    assert reachable(ArmKinematics(franka_model()), best)


def test_a_fully_open_gripper_would_hit_the_small_cups_far_wall(world: SimWorld) -> None:
    view = scene_of(world, "hang_mug", "new_object")
    best = rim_grasps(points_of(view, "blue cup"), **PARTS)[0]
    scene = scene_points(depth_cloud(view), CELL_SURFACES)
    assert not collision_free([best], scene, GRIPPER.volumes)  # fingers 8 cm apart: one in the far wall
    assert free([best], view) == [best]  # opened to the wall + 3 cm
    moved = opened_to(GRIPPER.volumes, 0.04, GRIPPER.max_width)
    assert moved[0][0][1] == pytest.approx(GRIPPER.volumes[0][0][1] - 0.02)  # a finger moves in 2 cm
    assert moved[2] == GRIPPER.volumes[2]  # the hand stays


def test_handle_grasps_pinch_across_the_handle(world: SimWorld) -> None:
    view = scene_of(world, "hang_mug", camera="wrist")
    sites = world.named_sites()
    centre = world.position("mug cup")[:2]
    out = sites["mug/handle"][:2] - centre
    out /= np.linalg.norm(out)
    grasps = handle_grasps(points_of(view, "mug cup"), **PARTS)
    assert [g.strategy for g in grasps] == ["handle"] * 3
    approaches = [g.approach for g in grasps]
    np.testing.assert_allclose(approaches[0], [0, 0, -1], atol=1e-9)  # from above
    assert approaches[1][2] == pytest.approx(-np.sqrt(0.5), abs=1e-6) and approaches[1][:2] @ out < -0.6
    assert abs(approaches[2][2]) < 1e-9 and approaches[2][:2] @ out < -0.99  # level, towards the body
    for grasp in grasps:
        along = (grasp.pose[:2, 3] - centre) @ out
        assert 0.055 < along < 0.08  # on the outer bar (the mug's radius is 3.8 cm, the bar 7.3 cm out)
        assert abs(grasp.pose[:2, 1] @ out) < 0.1  # closing across the handle, not along it
        assert 0.012 < grasp.width < 0.035
    assert reachable(ArmKinematics(franka_model()), grasps[0])


def test_flat_grasps_hold_the_eraser_across_its_narrow_side_fingertips_above_its_face(
    world: SimWorld,
) -> None:
    view = scene_of(world, "erase_whiteboard")
    grasps = flat_grasps(points_of(view, "eraser"), **PARTS)
    assert [g.strategy for g in grasps] == ["flat"] * 3
    short_axis = world.rotation("eraser")[:, 0]  # the eraser's box is 5 x 10 cm: x is its narrow side
    pad = world.named_sites()["eraser/pad"]
    for grasp in grasps:
        assert abs(abs(grasp.pose[:3, 1] @ short_axis) - 1) < 0.02
        assert grasp.width == pytest.approx(0.06, abs=0.005)
        # At the eraser's middle height: the fingertips clear of the pad's face, which meets the board.
        assert grasp.pose[2, 3] == pytest.approx(world.position("eraser")[2], abs=0.003)
        assert grasp.pose[2, 3] - pad[2] > GRIPPER.pad_clearance + 0.004
    assert np.linalg.norm(grasps[0].pose[:2, 3] - pad[:2]) < 0.005
    assert free(grasps, view) and reachable(ArmKinematics(franka_model()), grasps[0])


def test_cloth_corner_grasps_pinch_just_inside_each_corner(world: SimWorld) -> None:
    view = scene_of(world, "fold_towel")
    grasps = cloth_corner_grasps(points_of(view, "towel"), max_width=GRIPPER.max_width, pad_clearance=0.012)
    assert len(grasps) == 4 and {g.strategy for g in grasps} == {"cloth_corner"}
    corners = [p for name, p in world.named_sites().items() if name.endswith("_corner")]
    for corner in corners:
        nearest = min(grasps, key=lambda g: np.linalg.norm(g.pose[:2, 3] - corner[:2]))
        assert 0.01 < np.linalg.norm(nearest.pose[:2, 3] - corner[:2]) < 0.03
        assert nearest.pose[2, 3] < 0.015  # a low pinch
    distances = [np.linalg.norm(g.pose[:2, 3]) for g in grasps]
    assert distances == sorted(distances)  # nearest the robot first
    assert reachable(ArmKinematics(franka_model()), grasps[0])


def test_solid_objects_offer_no_part_grasps_and_bad_input_is_refused(world: SimWorld) -> None:
    view = scene_of(world, "clean_table")
    for label in ("red block", "green can", "blue cube"):
        found = {g.strategy for g in part_grasps(points_of(view, label), **PARTS)}
        assert not found & {"rim", "handle", "cloth_corner"}, label
    with pytest.raises(InvalidArgumentError, match="valid: rim, handle, flat, cloth_corner"):
        part_grasps(np.zeros((20, 3)), strategies=("lid",), **PARTS)
    with pytest.raises(InvalidArgumentError, match=r"finite \(N, 3\)"):
        rim_grasps(np.full((20, 3), np.nan), **PARTS)
    assert pregrasp_opening("top_down", 0.05, 0.08) == 0.08 and pregrasp_opening("rim", 0.015, 0.08) == 0.045


def test_each_strategy_is_drawn_in_its_colour(world: SimWorld) -> None:
    view = scene_of(world, "hang_mug")
    grasps = part_grasps(points_of(view, "mug cup"), **PARTS)
    kinds = [g.strategy for g in grasps]
    assert {"rim", "handle"} <= set(kinds)
    image = draw_grasps(
        view.rgb,
        [g.pose for g in grasps],
        [g.width for g in grasps],
        view.intrinsics,
        view.camera_pose,
        [f"{k}: {g.strategy}" for k, g in enumerate(grasps)],
        [strategy_colour(s) for s in kinds],
    )
    for kind in ("rim", "handle"):
        assert np.all(image == STRATEGY_COLOURS[kind], axis=2).sum() > 20, kind
    assert strategy_colour("made_up", 1) == colour(1)  # an unknown strategy: the palette's colour


@pytest.mark.slow
def test_the_grasp_planner_node_offers_rim_and_handle_grasps_on_the_mug() -> None:
    """Over ROS: the detector's detection with its mask -> the planner lifts it with the camera's depth."""
    from rclpy.node import Node

    params = str(Path(__file__).resolve().parents[2] / "config" / "franka" / "params.yaml")
    ns = "/" + unique("part_grasps")
    processes = [
        spawn_node("maestro_tools.sim.node", ns, task="hang_mug"),
        spawn_node("maestro_tools.perception.detector_node", ns, (params,), timeout=20.0),
        spawn_node("maestro_tools.grasping.node", ns, (params,)),
    ]
    try:
        with ros_graph(lambda c: Node(unique("part_grasps_client"), context=c)) as (node,):
            detect = node.create_client(Detect, f"{ns}/detect")
            plan = node.create_client(PlanGrasp, f"{ns}/plan_grasp")
            for client in (detect, plan):  # three nodes starting on a busy machine
                assert client.wait_for_service(timeout_sec=120), [p.poll() for p in processes]
            found = call(detect, Detect.Request(labels=["mug cup"], with_masks=True), 40)
            assert found.success and found.detections[0].mask.width > 0, found.message
            request = PlanGrasp.Request(
                detection=found.detections[0], max_grasps=100, check_reachability=True
            )
            reply = call(plan, request, 60)
            assert reply.success, reply.message
            kinds = [g.strategy for g in reply.grasps]
            assert "rim" in kinds and "handle" in kinds, kinds
            assert all(g.reachable for g in reply.grasps)
            rim = next(g for g in reply.grasps if g.strategy == "rim")
            assert abs(pose_to_matrix(rim.pose)[2, 3] - 0.06) < 0.005 and rim.width < 0.03
            by_label = call(plan, PlanGrasp.Request(label="mug cup", check_reachability=True), 60)
            assert by_label.success and by_label.grasps, by_label.message  # the node asks for the mask too
    finally:
        outputs = [stop(p) for p in processes]
    assert not any("Traceback" in output for output in outputs), outputs
