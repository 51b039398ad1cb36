"""End to end without a VLM: a program that only calls the module nodes over ROS puts the ball in the bowl.

The whole Franka bringup runs under `maestro launch franka` (sim, detector, grasp planner, motion as
separate processes). The program: detect the tennis ball (scene camera), plan a grasp, move above it,
look again from the wrist camera, re-plan, descend, grasp, lift, detect the bowl, move above it,
release. The score comes from the sim's progress service. 10 seeded scenes: 5 nominal, 5 with the pose
perturbation (more seeds are the benchmark's: bench/program_sweep.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from control_msgs.action import GripperCommand
from control_msgs.msg import GripperCommand as GripperGoal
from rclpy.node import Node

from maestro_msgs.action import MoveArm
from maestro_msgs.msg import ErrorCode
from maestro_msgs.srv import Detect, GetTaskProgress, PlanGrasp, ResetScene
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.conversions import matrix_to_pose, pose_to_matrix
from maestro_tools.robots.gripper import judge_grasp
from test.e2e.launched import launched
from test.ros.helpers import call, goal_result, ros_graph, send_goal, unique, wait_for
from test.sim.franka_cell import FRANKA
from test.sim.test_motion_scene import down

NS = "/maestro"
SEEDS = [(seed, "none") for seed in range(5)] + [(seed, "pose") for seed in range(10, 15)]


class Program:
    """The calls a VLM-written program would make, as plain ROS clients."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.detector = node.create_client(Detect, f"{NS}/detect")
        self.planner = node.create_client(PlanGrasp, f"{NS}/plan_grasp")
        self.reset_client = node.create_client(ResetScene, f"{NS}/reset_scene")
        self.progress_client = node.create_client(GetTaskProgress, f"{NS}/get_task_progress")
        self.arm = ThreadSafeActionClient(node, MoveArm, f"{NS}/move_arm")
        self.hand = ThreadSafeActionClient(node, GripperCommand, f"{NS}/gripper_controller/gripper_cmd")

    def call(self, client, request, timeout: float = 30.0):
        return call(client, request, timeout)

    def act(self, client: ThreadSafeActionClient, goal, timeout: float = 60.0):
        return goal_result(send_goal(client, goal), timeout)

    def detect(self, label: str, camera: str):
        reply = self.call(self.detector, Detect.Request(labels=[label], camera=camera))
        assert reply.success, reply.message
        return reply.detections[0]

    def grasp_for(self, detection):
        reply = self.call(self.planner, PlanGrasp.Request(detection=detection, check_reachability=True))
        assert reply.success, reply.message
        return pose_to_matrix(reply.grasps[0].pose)

    def move(self, pose: np.ndarray) -> None:
        goal = MoveArm.Goal(mode=MoveArm.Goal.POSE)
        goal.waypoints.append(self._stamped(pose))
        result = self.act(self.arm, goal)
        assert result.success, result.message

    @staticmethod
    def _stamped(pose: np.ndarray):
        from geometry_msgs.msg import PoseStamped

        stamped = PoseStamped(pose=matrix_to_pose(pose))
        stamped.header.frame_id = "base"
        return stamped

    def gripper(self, width: float, force: float = 0.0) -> float:
        """Drive the gripper to ``width`` (m); the opening where the fingers stopped."""
        goal = GripperCommand.Goal(command=GripperGoal(position=width / 2, max_effort=force))
        return self.act(self.hand, goal).position * 2

    def run(self, seed: int, perturbation: str) -> float:
        reset = self.call(
            self.reset_client, ResetScene.Request(task="ball_in_bowl", seed=seed, perturbation=perturbation)
        )
        assert reset.success, reset.message
        grasp = self.grasp_for(self.detect("tennis ball", "scene"))
        above = grasp.copy()
        above[2, 3] += 0.12
        self.move(above)
        grasp = self.grasp_for(self.detect("tennis ball", "wrist"))  # a closer look before descending
        self.move(grasp)
        held = judge_grasp(self.gripper(0.0, FRANKA.gripper.grasp_force), FRANKA.gripper)
        assert held.held, held.message
        lifted = grasp.copy()
        lifted[2, 3] += 0.15
        self.move(lifted)
        bowl = pose_to_matrix(self.detect("bowl", "scene").pose)
        release = lifted.copy()
        release[:2, 3] = bowl[:2, 3]
        release[2, 3] = 0.14
        self.move(release)
        self.gripper(FRANKA.gripper.max_width)
        scores: list[float] = []

        def finished() -> bool:
            scores.append(self.call(self.progress_client, GetTaskProgress.Request()).progress)
            return scores[-1] >= 100.0

        wait_for(finished, 10)
        return scores[-1]


@pytest.fixture(scope="module")
def franka() -> Iterator[Program]:
    with (
        launched("franka", "real_time_factor:=4.0", "vlm:=scripted"),
        ros_graph(lambda c: Node(unique("e2e_program"), context=c)) as (node,),
    ):
        yield Program(node)


@pytest.mark.timeout(400)  # 10 full pick-and-place runs: 5-25 s each on 2 cores
def test_ball_into_bowl_in_9_of_10_seeded_scenes(franka: Program) -> None:
    outcomes = {}
    for seed, perturbation in SEEDS:
        started = time.monotonic()
        try:
            outcomes[(seed, perturbation)] = franka.run(seed, perturbation)
        except Exception as exc:
            outcomes[(seed, perturbation)] = f"failed: {type(exc).__name__}: {exc}"
        elapsed = time.monotonic() - started
        print(f"seed {seed} {perturbation}: {outcomes[(seed, perturbation)]} ({elapsed:.1f} s)")
    successes = sum(1 for score in outcomes.values() if score == 100.0)
    assert successes >= len(SEEDS) - 1, outcomes


def test_bad_requests_get_typed_errors_and_nodes_survive(franka: Program) -> None:
    franka.call(franka.reset_client, ResetScene.Request(task="ball_in_bowl", seed=0))
    unknown = franka.call(franka.detector, Detect.Request(labels=["unicorn"], camera="scene"))
    assert unknown.error_code == ErrorCode.NOT_FOUND and "tennis ball" in unknown.message
    no_camera = franka.call(franka.detector, Detect.Request(labels=["bowl"], camera="thermal"))
    assert no_camera.error_code == ErrorCode.NOT_FOUND and "scene, wrist" in no_camera.message
    empty = franka.call(franka.planner, PlanGrasp.Request())
    assert empty.error_code == ErrorCode.INVALID_ARGUMENT
    far = np.eye(4)
    far[:3, :3] = np.diag([1.0, -1.0, -1.0])
    far[:3, 3] = [1.5, 0.0, 0.2]
    goal = MoveArm.Goal(mode=MoveArm.Goal.POSE)
    goal.waypoints.append(franka._stamped(far))
    result = franka.act(franka.arm, goal)
    assert result.error_code == ErrorCode.UNREACHABLE and "reach" in result.message
    nan = franka._stamped(far)
    nan.pose.position.x = float("nan")
    goal = MoveArm.Goal(mode=MoveArm.Goal.POSE, waypoints=[nan])
    assert franka.act(franka.arm, goal).error_code == ErrorCode.INVALID_ARGUMENT
    assert franka.call(franka.detector, Detect.Request(labels=["bowl"], camera="scene")).success


def test_keypointer_points_at_named_parts(franka: Program) -> None:
    from maestro_msgs.srv import Point

    client = franka.node.create_client(Point, f"{NS}/point")
    franka.call(franka.reset_client, ResetScene.Request(task="ball_in_bowl", seed=0))
    reply = franka.call(client, Point.Request(description="the top of the tennis ball", camera="scene"))
    assert reply.success, reply.message
    ball = reply.points[0]
    assert 0.055 < ball.position.z < 0.075 and 0 <= ball.u < 640 and 0 <= ball.v < 480
    bad = franka.call(client, Point.Request(description="the handle of the bowl"))
    assert bad.error_code == ErrorCode.INVALID_ARGUMENT and "top" in bad.message


def test_every_topic_the_rviz_config_shows_is_published(franka: Program) -> None:
    import re
    from pathlib import Path

    rviz = (Path(__file__).resolve().parents[2] / "rviz" / "franka.rviz").read_text()
    wanted = set(re.findall(r"Value: (/\S+)", rviz))
    assert len(wanted) >= 7 and "/robot_description" in wanted  # RobotModel's description topic too

    def published() -> set[str]:
        return {name for name, _ in franka.node.get_topic_names_and_types()}

    assert wait_for(lambda: wanted <= published(), 20), wanted - published()


def test_planned_joint_motion(franka: Program) -> None:

    call(franka.reset_client, ResetScene.Request(task="ball_in_bowl", seed=0))
    goal = MoveArm.Goal(
        mode=MoveArm.Goal.JOINTS,
        path=MoveArm.Goal.PATH_PLANNED,
        joint_names=[f"panda_joint{i}" for i in range(1, 8)],
        joint_positions=(np.array(FRANKA.arm.home) + [0.8, 0.3, 0.0, 0.4, 0.0, -0.3, 0.0]).tolist(),
    )
    result = franka.act(franka.arm, goal)
    assert result.success, result.message
    assert result.position_error < 0.01


def test_grasps_from_a_cloud_include_antipodal_ones(franka: Program) -> None:
    from maestro_tools.common.conversions import points_to_pointcloud2
    from test.sim.test_modules import box_surface

    cloud = points_to_pointcloud2(
        (box_surface(np.array([0.06, 0.02, 0.03])) + [0.5, 0.0, 0.03]).astype(np.float32)
    )
    cloud.header.frame_id = "base"
    reply = call(franka.planner, PlanGrasp.Request(cloud=cloud, label="long block", max_grasps=20))
    assert reply.success, reply.message
    assert {"antipodal", "top_down"} <= {g.strategy for g in reply.grasps}
    assert all(g.width <= 0.08 for g in reply.grasps)


def test_a_line_through_the_ball_is_blocked_and_auto_goes_over_it(franka: Program) -> None:
    franka.call(franka.reset_client, ResetScene.Request(task="ball_in_bowl", seed=0))
    ball = franka.detect("tennis ball", "scene").pose.position
    bowl = franka.detect("bowl", "scene").pose.position
    away = np.array([ball.x - bowl.x, ball.y - bowl.y])
    side = np.array([-away[1], away[0]]) / np.linalg.norm(away)  # across the ball, away from the bowl
    start, end = (np.array([ball.x, ball.y]) + s * side for s in (-0.15, 0.13))
    franka.move(down(*start, 0.035))

    def move(path: int, feedback: list) -> MoveArm.Result:
        goal = MoveArm.Goal(mode=MoveArm.Goal.POSE, path=path, waypoints=[franka._stamped(down(*end, 0.035))])
        return goal_result(send_goal(franka.arm, goal, feedback))

    feedback: list = []
    blocked = move(MoveArm.Goal.PATH_CARTESIAN, feedback)
    assert blocked.error_code == ErrorCode.COLLISION and "blocked" in blocked.message, blocked.message
    states = [f.feedback.state for f in feedback]
    assert states[0] == MoveArm.Feedback.PLANNING and states[-1] == MoveArm.Feedback.BLOCKED
    feedback.clear()
    around = move(MoveArm.Goal.PATH_AUTO, feedback)
    assert around.success and "planned segment" in around.message, around.message
    moving = [f.feedback for f in feedback if f.feedback.state == MoveArm.Feedback.MOVING]
    tcp = np.array(
        [[f.current_pose.position.x, f.current_pose.position.y, f.current_pose.position.z] for f in moving]
    )
    line = np.array([*end, 0.035]) - np.array([*start, 0.035])
    along = np.clip((tcp - [*start, 0.035]) @ line / (line @ line), 0, 1)
    assert np.linalg.norm(tcp - ([*start, 0.035] + along[:, None] * line), axis=1).max() > 0.05  # not through
    # distance_remaining is the TCP's distance to the target (a path around the ball may first go away)
    remaining = np.array([f.distance_remaining for f in moving])
    assert np.allclose(remaining, np.linalg.norm(tcp - [*end, 0.035], axis=1), atol=0.005)


def test_cancel_stops_the_arm_promptly(franka: Program) -> None:
    from rclpy.event_handler import SubscriptionEventCallbacks
    from sensor_msgs.msg import JointState

    franka.call(franka.reset_client, ResetScene.Request(task="ball_in_bowl", seed=0))
    speeds: list[tuple[float, float]] = []  # (wall time, |joint 1 velocity|)
    subscription = franka.node.create_subscription(
        JointState,
        f"{NS}/joint_states",
        lambda m: speeds.append((time.monotonic(), abs(m.velocity[0]))),
        10,
        event_callbacks=SubscriptionEventCallbacks(use_default_callbacks=False),  # destroyed while spinning
    )
    goal = MoveArm.Goal(
        mode=MoveArm.Goal.JOINTS,
        joint_names=[f"panda_joint{i}" for i in range(1, 8)],
        joint_positions=(np.array(FRANKA.arm.home) + [1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]).tolist(),
        velocity_scaling=0.5,  # about 0.16 rad/s (one segment, ramped at both ends)
    )
    handle = send_goal(franka.arm, goal)
    assert wait_for(lambda: speeds and speeds[-1][1] > 0.12, 20), goal_result(handle, 1).message
    cancelled_at = time.monotonic()
    handle.cancel_goal_async()
    result = goal_result(handle, 10)
    time.sleep(0.3)
    franka.node.destroy_subscription(subscription)
    assert result.error_code == ErrorCode.CANCELED and "holds" in result.message
    after = [(t, v) for t, v in speeds if t >= cancelled_at]
    stopped = next(t for t, v in after if v < 0.01)  # about 6 % of the speed it had
    assert all(v < 0.03 for t, v in after if t >= stopped), "the arm moved again"
    print(f"cancel -> joint 1 below 0.01 rad/s: {1000 * (stopped - cancelled_at):.0f} ms (wall clock)")
    # A guard that cancel stops the arm at all (the move would run ~9 s). The 0.2 s target is a measured
    # figure, not a test bound: 29-387 ms over 20 runs here (median ~90 ms), once 0.6 s (README).
    assert stopped - cancelled_at < 1.0, f"the arm took {stopped - cancelled_at:.2f} s to stop"
