"""The sim node across processes: clock, joint states, cameras, trajectories, gripper, resets, bad input."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest
from action_msgs.msg import GoalStatus
from builtin_interfaces.msg import Duration
from control_msgs.action import FollowJointTrajectory, GripperCommand
from control_msgs.msg import GripperCommand as GripperGoal
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from maestro_msgs.msg import ErrorCode
from maestro_msgs.srv import GetSegmentation, GetTaskProgress, ResetScene
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.conversions import image_to_numpy
from maestro_tools.common.qos import IMAGE_QOS, STATE_QOS
from test.ros.helpers import (
    call,
    goal_outcome,
    goal_result,
    ros_graph,
    send_goal,
    spawn_node,
    stop,
    unique,
    wait_for,
    wait_future,
)
from test.sim.franka_cell import HOME

ARM = [f"panda_joint{i}" for i in range(1, 8)]


class Client:
    def __init__(self, node: Node, ns: str) -> None:
        self.node, self.ns = node, ns
        self.joints: list[JointState] = []
        self.clock: list[Clock] = []
        node.create_subscription(JointState, f"{ns}/joint_states", self.joints.append, STATE_QOS)
        node.create_subscription(Clock, "/clock", self.clock.append, STATE_QOS)
        self.trajectory = ThreadSafeActionClient(
            node, FollowJointTrajectory, f"{ns}/arm_controller/follow_joint_trajectory"
        )
        self.gripper = ThreadSafeActionClient(node, GripperCommand, f"{ns}/gripper_controller/gripper_cmd")
        self.reset = node.create_client(ResetScene, f"{ns}/reset_scene")
        self.progress = node.create_client(GetTaskProgress, f"{ns}/get_task_progress")
        self.segmentation = node.create_client(GetSegmentation, f"{ns}/get_segmentation")

    def arm(self) -> np.ndarray:
        latest = self.joints[-1]
        return np.array([latest.position[latest.name.index(n)] for n in ARM])


def trajectory(
    points: list[list[float]], times: list[float], names: list[str] = ARM
) -> FollowJointTrajectory.Goal:
    msg = JointTrajectory(joint_names=names)
    for positions, t in zip(points, times, strict=True):
        msg.points.append(
            JointTrajectoryPoint(
                positions=positions, time_from_start=Duration(sec=int(t), nanosec=int(t % 1 * 1e9))
            )
        )
    return FollowJointTrajectory.Goal(trajectory=msg)


def gripper(width: float, effort: float = 0.0) -> GripperCommand.Goal:
    """A goal for opening ``width`` (m): control_msgs' position is one finger joint's, half of it."""
    return GripperCommand.Goal(command=GripperGoal(position=width / 2, max_effort=effort))


OK = FollowJointTrajectory.Result.SUCCESSFUL


@pytest.fixture(scope="module")
def sim() -> Iterator[Client]:
    ns = "/" + unique("sim")
    process = spawn_node("maestro_tools.sim.node", ns, image_width=320, image_height=240, camera_rate=10.0)
    try:
        with ros_graph(lambda c: Node(unique("sim_client"), context=c)) as (node,):
            client = Client(node, ns)
            assert wait_for(lambda: len(client.joints) > 5, 30), "no joint_states from the sim node"
            yield client
    finally:
        output = stop(process)
        assert "Traceback" not in output, output


def test_clock_and_joint_states_advance(sim: Client) -> None:
    def seconds(stamp) -> float:
        return stamp.sec + stamp.nanosec * 1e-9

    assert wait_for(lambda: len(sim.clock) > 10)
    first = seconds(sim.joints[-1].header.stamp)
    time.sleep(1.0)
    assert seconds(sim.joints[-1].header.stamp) > first + 0.2  # sim time runs near real time
    # /clock at 10 Hz (clock_rate), joint_states at 10-100 Hz: the clock trails by less than its period
    assert max(seconds(c.clock) for c in sim.clock) >= seconds(sim.joints[-1].header.stamp) - 0.11
    assert sim.joints[-1].name[:7] == ARM and len(sim.joints[-1].name) == 9


def test_scripted_joint_motion_is_followed_by_joint_states(sim: Client) -> None:
    call(sim.reset, ResetScene.Request(task="ball_in_bowl", seed=0))
    goal = (np.array(HOME) + [0.3, 0.25, 0.0, 0.25, 0.0, -0.2, 0.3]).tolist()
    feedback: list = []
    handle = send_goal(sim.trajectory, trajectory([goal], [1.5]), feedback)
    assert handle.accepted
    result = goal_result(handle)
    assert result.error_code == OK, result.error_string
    last = feedback[-1].feedback
    assert len(feedback) >= 3 and last.joint_names == ARM
    assert len(last.desired.positions) == len(last.actual.positions) == len(last.error.positions) == 7
    assert last.desired.time_from_start.sec + last.desired.time_from_start.nanosec * 1e-9 > 0.75
    time.sleep(0.2)
    np.testing.assert_allclose(sim.arm(), goal, atol=0.03)


@pytest.mark.parametrize(
    ("names", "positions", "code", "text"),
    [
        (
            ["elbow"] + ARM[1:],
            list(HOME),
            FollowJointTrajectory.Result.INVALID_JOINTS,
            "arm joints: panda_joint1",
        ),
        (ARM, [float("nan")] * 7, FollowJointTrajectory.Result.INVALID_GOAL, "NaN"),
        (
            ARM,
            [0.0, 0.0, 0.0, 0.3, 0.0, 1.5, 0.0],
            FollowJointTrajectory.Result.INVALID_GOAL,
            "panda_joint4 in [-3.0718, -0.0698] rad",
        ),
    ],
)
def test_invalid_trajectories_are_refused_and_the_node_keeps_running(
    sim: Client, names, positions, code, text
) -> None:
    result = goal_result(send_goal(sim.trajectory, trajectory([positions], [1.0], names)))
    assert result.error_code == code and text in result.error_string
    assert call(sim.progress, GetTaskProgress.Request()).success


def test_cancel_stops_the_arm(sim: Client) -> None:
    call(sim.reset, ResetScene.Request(task="ball_in_bowl", seed=0))
    far = (np.array(HOME) + [1.2, 0.4, 0.0, 0.6, 0.0, -0.4, 0.0]).tolist()
    handle = send_goal(sim.trajectory, trajectory([far], [8.0]))
    time.sleep(1.0)
    cancel = handle.cancel_goal_async()
    assert wait_future(cancel, 5)
    status, _ = goal_outcome(handle)
    assert status == GoalStatus.STATUS_CANCELED
    time.sleep(0.2)
    held = sim.arm()
    time.sleep(0.5)
    assert np.abs(sim.arm() - held).max() < 0.01, "the arm kept moving after the cancel"
    assert np.abs(held - np.array(far)).max() > 0.2


def test_reset_during_a_trajectory_preempts_it(sim: Client) -> None:
    handle = send_goal(
        sim.trajectory, trajectory([(np.array(HOME) + [0.8, 0, 0, 0, 0, 0, 0]).tolist()], [3.0])
    )
    time.sleep(0.3)
    reply = call(sim.reset, ResetScene.Request(task="clean_table", seed=4, perturbation="pose"))
    assert reply.success and "blue cube" in reply.objects
    result = goal_result(handle)
    assert result.error_code == FollowJointTrajectory.Result.GOAL_TOLERANCE_VIOLATED
    assert "reset" in result.error_string


def test_reset_bad_input_lists_the_choices(sim: Client) -> None:
    unknown = call(sim.reset, ResetScene.Request(task="juggle"))
    assert unknown.error_code == ErrorCode.NOT_FOUND and "ball_in_bowl" in unknown.message
    assert "clean_table" in unknown.available_tasks
    bad_axis = call(sim.reset, ResetScene.Request(task="ball_in_bowl", perturbation="earthquake"))
    assert bad_axis.error_code == ErrorCode.INVALID_ARGUMENT and "new_object" in bad_axis.message
    assert call(sim.progress, GetTaskProgress.Request()).progress == 0.0


def test_untouched_scene_scores_zero_with_stages(sim: Client) -> None:
    call(sim.reset, ResetScene.Request(task="ball_in_bowl", seed=1))
    reply = call(sim.progress, GetTaskProgress.Request())
    assert reply.success and reply.progress == 0.0 and reply.task == "ball_in_bowl"
    assert [s.points for s in reply.stages] == [30, 50, 70, 100]


def test_the_gripper_reports_where_its_fingers_stopped(sim: Client) -> None:
    call(sim.reset, ResetScene.Request(task="ball_in_bowl", seed=0))
    status, result = goal_outcome(send_goal(sim.gripper, gripper(0.0, 70.0)))
    # Closing on nothing reaches the goal, as on a real gripper: the client judges the width (~0).
    assert status == GoalStatus.STATUS_SUCCEEDED and result.reached_goal and not result.stalled
    assert result.position < 0.002
    opened = goal_result(send_goal(sim.gripper, gripper(0.08)))
    assert opened.reached_goal and opened.position * 2 > 0.075
    status, _ = goal_outcome(send_goal(sim.gripper, gripper(0.2)))
    assert status == GoalStatus.STATUS_ABORTED


def test_cameras_stream_reliably_across_processes(sim: Client) -> None:
    images: list[Image] = []
    depths: list[Image] = []
    infos: list[CameraInfo] = []
    sim.node.create_subscription(Image, f"{sim.ns}/scene_camera/color/image_raw", images.append, IMAGE_QOS)
    sim.node.create_subscription(Image, f"{sim.ns}/wrist_camera/depth/image_raw", depths.append, IMAGE_QOS)
    sim.node.create_subscription(
        CameraInfo, f"{sim.ns}/scene_camera/color/camera_info", infos.append, STATE_QOS
    )
    assert wait_for(lambda: len(images) >= 3 and len(depths) >= 3 and infos, 30)
    rgb = image_to_numpy(images[-1])
    assert rgb.shape == (240, 320, 3) and rgb.std() > 5
    depth = image_to_numpy(depths[-1])
    assert depth.dtype == np.float32 and np.isfinite(depth).all() and depth.min() > 0
    assert infos[-1].k[0] > 0 and infos[-1].width == 320


def test_segmentation_labels_the_task_objects(sim: Client) -> None:
    call(sim.reset, ResetScene.Request(task="ball_in_bowl", seed=0))
    reply = call(sim.segmentation, GetSegmentation.Request(camera="scene"))
    assert reply.success
    ids = image_to_numpy(reply.segmentation)
    ball = reply.instance_ids[list(reply.instance_labels).index("tennis ball")]
    assert (ids == ball).sum() > 20
    bad = call(sim.segmentation, GetSegmentation.Request(camera="thermal"))
    assert bad.error_code == ErrorCode.NOT_FOUND and "scene, wrist" in bad.message


def test_bad_start_up_parameter_exits_with_the_valid_choices() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "maestro_tools.sim.node",
            "--ros-args",
            "-r",
            f"__ns:=/{unique('bad')}",
            "-p",
            "task:=juggle",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "must be one of ball_in_bowl, clean_table" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_during_a_running_goal_exits_promptly_and_cleanly() -> None:
    ns = "/" + unique("term")
    process = spawn_node("maestro_tools.sim.node", ns, use_sim_time="true", camera_rate=0.0)
    try:
        with ros_graph(lambda c: Node(unique("term_client"), context=c)) as (node,):
            client = Client(node, ns)
            far = (np.array(HOME) + [1.0, 0, 0, 0, 0, 0, 0]).tolist()
            handle = send_goal(client.trajectory, trajectory([far], [20.0]))
            assert handle.accepted
            time.sleep(0.5)
            started = time.monotonic()
            process.terminate()
            result = goal_result(handle, timeout=10)
            assert process.wait(10) == 0
            assert time.monotonic() - started < 5
            assert result.error_code != OK and "stopped" in result.error_string
    finally:
        output = stop(process)
    assert "Traceback" not in output and "never retrieved" not in output, output
