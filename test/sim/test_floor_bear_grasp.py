"""The Go2-W + PiPER crouched beside a plush bear on the floor, its narrow side towards the arm (find_ball's
new_object scene, no ROS): the whole bear's grasps are out of the arm's reach, the planner falls back to
its head, and the first head grasp, executed in the physics, holds the bear as the arm lifts it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from transforms3d.euler import euler2mat

from maestro_tools.common.errors import CollisionError, UnreachableError
from maestro_tools.grasping.parts import pregrasp_opening
from maestro_tools.grasping.proposals import box_grasps, narrow_top_grasps, proposals, usable_or_narrow
from maestro_tools.grasping.top_down import GraspCandidate
from maestro_tools.motion.kinematics import ArmKinematics
from maestro_tools.perception.objects import CameraFrame, detect_objects
from maestro_tools.robots.body_posture import BodyPosture
from maestro_tools.robots.model import RobotModel
from maestro_tools.sim.mobile.world import MobileWorld

BEAR = "red plush bear"
STAND = ((2.484, -2.145), math.radians(-114.0))  # where find_ball's base stood in the sweep, crouched
CROUCH = BodyPosture(-0.18, 0.0)
PREGRASP = 0.1  # m, the Go2-W's grasp_planner pregrasp_height


def move_arm(world: MobileWorld, q: np.ndarray, seconds: float = 1.5) -> None:
    start = world.arm_positions().copy()
    for s in np.linspace(0.0, 1.0, 30):
        world.robot.set_arm(start + s * (q - start))
        world.step_for(seconds / 30)
    world.step_for(0.3)


def pregrasp(grasp: GraspCandidate) -> np.ndarray:
    """As the planner and pick go in: back along a tilted grasp's approach, else from above."""
    pose = grasp.pose.copy()
    if grasp.strategy == "tilted":
        pose[:3, 3] -= grasp.approach * PREGRASP
    else:
        pose[2, 3] += PREGRASP
    return pose


@pytest.mark.slow
def test_a_floor_bear_side_on_is_grasped_by_its_head_and_lifted() -> None:
    world = MobileWorld(task="find_ball", seed=0, perturbation="new_object")
    try:
        assert world.info.objects == (BEAR,)
        world.robot.reset(*STAND)
        world.step_for(0.5)
        world.robot.set_body_posture(CROUCH)
        world.step_for(3.0)
        model = RobotModel(world.profile)
        kinematics = ArmKinematics(model)
        toy = np.linalg.inv(world.base_pose()) @ np.append(world.position(BEAR), 1.0)
        heading = math.atan2(toy[1], toy[0])
        look = np.eye(4)  # the hand camera 30 cm short of the bear, tilted 30 deg, as pick looks
        look[:3, :3] = euler2mat(math.pi, math.radians(30.0), heading + math.pi, "sxyz")
        look[:3, 3] = [*(toy[:2] - 0.3 * np.array([math.cos(heading), math.sin(heading)])), 0.05]
        q_look = kinematics.solve(look, model.home).q
        move_arm(world, q_look, 2.0)
        view = world.ground_truth("wrist")
        labels = {i: label for i, label in enumerate(view.labels) if i}
        frame = CameraFrame(
            "wrist", view.frame.rgb, view.frame.depth, view.instances, labels, view.intrinsics,
            view.camera_pose, 0.0,
        )  # fmt: skip
        bear = detect_objects(frame, [BEAR])[0]
        gripper, arm = world.profile.gripper, world.profile.arm

        def reached(grasps: list[GraspCandidate]) -> list[tuple[GraspCandidate, np.ndarray]]:
            out = []
            for grasp in grasps:
                try:
                    q_in = kinematics.solve(pregrasp(grasp), q_look).q
                    out.append((grasp, kinematics.solve(grasp.pose, q_in).q))
                except (UnreachableError, CollisionError):
                    continue
            return out

        whole = box_grasps(bear.pose, bear.extent, gripper.max_width, gripper, arm)
        narrow = narrow_top_grasps(bear.points, gripper.max_width, gripper, arm)
        candidates = proposals(whole, narrow, None, bear.points, gripper.max_width, gripper)
        assert whole and narrow
        assert not reached(candidates), "the whole bear reachable: the scene no longer tests the fallback"
        usable = usable_or_narrow(candidates, whole, narrow, reached)
        assert usable, "no head grasp reached"
        head, q_grasp = usable[0]
        top = bear.points[:, 2].max()
        assert top - 0.05 < head.pose[2, 3] < top  # on the head: within its top band

        world.set_gripper(pregrasp_opening(head.strategy, head.width, gripper.max_width))
        world.step_for(0.5)
        move_arm(world, kinematics.solve(pregrasp(head), q_look).q)
        move_arm(world, q_grasp)
        world.set_gripper(0.0)
        world.step_for(1.0)
        lift = head.pose.copy()
        lift[2, 3] += 0.1
        move_arm(world, kinematics.solve(lift, q_grasp).q)
        assert world.grasped(BEAR) and world.height_above_rest(BEAR) > 0.05
    finally:
        world.close()
