"""The Go2-W + PiPER sim node in its own process: joint states, TF map -> odom -> base_link, cmd_vel drives
the base and odom follows, the watchdog stops it, a bad cmd_vel is refused, the arm follows a trajectory,
the gripper closes, and a camera streams colour, depth and CameraInfo while watched; the simulation
services as the Franka sim serves them (reset_scene to a house task, get_task_progress, get_segmentation in
base_link, the latched scene topic; bad requests answered with the valid choices), and the ``sim``
detector backend finding house objects through them, unchanged."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from builtin_interfaces.msg import Duration
from control_msgs.action import FollowJointTrajectory, GripperCommand
from control_msgs.msg import GripperCommand as GripperGoal
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.context import Context
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from maestro_msgs.srv import Detect, GetSegmentation, GetTaskProgress, ResetScene
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.conversions import pose_to_matrix
from maestro_tools.common.errors import ErrorCode
from maestro_tools.common.qos import IMAGE_QOS, LATCHED_QOS, STATE_QOS
from maestro_tools.common.tf import TfListener
from maestro_tools.sim.ground_truth import GroundTruthView
from maestro_tools.sim.scene_services import SceneServices
from maestro_tools.sim.world import SceneInfo, StageReport
from test.ros.helpers import call, goal_result, ros_graph, send_goal, spawn_node, stop, unique, wait_for

WHEELS = ["FL_wheel_joint", "RL_wheel_joint", "FR_wheel_joint", "RR_wheel_joint"]
ARM = [f"piper_joint{i}" for i in range(1, 7)]
OK = FollowJointTrajectory.Result.SUCCESSFUL


def _seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


class Client:
    def __init__(self, node: Node, ns: str) -> None:
        self.node, self.ns = node, ns
        self.group = ReentrantCallbackGroup()
        self.joints: list[JointState] = []
        self.odom: list[Odometry] = []
        node.create_subscription(JointState, f"{ns}/joint_states", self.joints.append, STATE_QOS)
        node.create_subscription(Odometry, f"{ns}/odom", self.odom.append, STATE_QOS)
        self.cmd_vel = node.create_publisher(Twist, f"{ns}/cmd_vel", STATE_QOS)
        self.tf = TfListener(node, self.group)
        self.trajectory = ThreadSafeActionClient(
            node, FollowJointTrajectory, f"{ns}/arm_controller/follow_joint_trajectory"
        )
        self.gripper = ThreadSafeActionClient(node, GripperCommand, f"{ns}/gripper_controller/gripper_cmd")

    def now(self) -> float:
        """The sim time of the latest odom message."""
        return _seconds(self.odom[-1].header.stamp)

    def position(self, name: str) -> float:
        latest = self.joints[-1]
        return latest.position[latest.name.index(name)]

    def drive(self, linear: float, angular: float, sim_seconds: float, timeout: float = 30.0) -> None:
        """Publish cmd_vel at 10 Hz (wall) until ``sim_seconds`` of sim time have passed."""
        end, done = self.now() + sim_seconds, threading.Event()
        message = Twist()
        message.linear.x, message.angular.z = linear, angular
        while not done.wait(0.1):
            self.cmd_vel.publish(message)
            if self.now() >= end:
                done.set()
        assert self.now() >= end


@pytest.fixture(scope="module")
def sim() -> Iterator[Client]:
    ns = "/" + unique("go2w")
    process = spawn_node(
        "maestro_tools.sim.mobile.node", ns, image_width=160, image_height=120, camera_rate=5.0
    )
    try:
        with ros_graph(lambda c: Node(unique("go2w_client"), context=c)) as (node,):
            client = Client(node, ns)
            assert wait_for(lambda: len(client.odom) > 3 and len(client.joints) > 3, 60), (
                "no joint_states or odom from the go2w sim node"
            )
            yield client
    finally:
        output = stop(process)
        assert "Traceback" not in output, output


def test_joint_states_and_tf_map_odom_base_link(sim: Client) -> None:
    names = sim.joints[-1].name
    assert set(WHEELS + ARM + ["piper_joint7", "piper_joint8", "FL_calf_joint"]) <= set(names)
    assert sim.joints[-1].header.frame_id == "base_link"
    odom_base = sim.tf.lookup("odom", "base_link", timeout=20.0)
    assert 0.35 < odom_base[2, 3] < 0.5  # standing on its wheels
    np.testing.assert_allclose(sim.tf.lookup("map", "odom", timeout=10.0), np.eye(4), atol=1e-9)
    map_base = sim.tf.lookup("map", "base_link", timeout=10.0)
    pose = sim.odom[-1].pose.pose.position
    np.testing.assert_allclose(map_base[:3, 3], [pose.x, pose.y, pose.z], atol=0.02)
    head = sim.tf.lookup("base_link", "head_camera_color_optical_frame", timeout=10.0)
    assert head[0, 3] > 0.1 and head[0, 2] > 0.9  # at the front, its optical z axis forward


def test_cmd_vel_drives_forward_and_the_watchdog_stops_it(sim: Client) -> None:
    start = sim.odom[-1].pose.pose.position
    sim.drive(0.3, 0.0, 2.0)
    moved = sim.odom[-1].pose.pose.position
    travelled = moved.x - start.x  # the robot starts facing +x
    assert 0.45 < travelled < 0.75, travelled  # 0.6 m less the 0.3 s ramp
    assert abs(moved.y - start.y) < 0.05
    assert sim.odom[-1].twist.twist.linear.x == pytest.approx(0.3, abs=0.05)
    # TF at the odometry's own stamp (at now(), a loaded machine's delivery lag read 4.5 cm at 0.3 m/s)
    odom = sim.odom[-1]
    tf = sim.tf.lookup("map", "base_link", stamp=_seconds(odom.header.stamp), timeout=10.0)
    assert tf[0, 3] == pytest.approx(odom.pose.pose.position.x, abs=0.03)
    # No more commands: the watchdog (0.5 s) stops the base, which brakes within ~0.3 s more.
    stopped_at = sim.now()
    assert wait_for(lambda: sim.now() > stopped_at + 1.5, 30)
    still = sim.odom[-1]
    assert abs(still.twist.twist.linear.x) < 0.02, still.twist.twist
    assert still.pose.pose.position.x - moved.x < 0.3  # it did not run on at 0.3 m/s
    x = still.pose.pose.position.x
    assert wait_for(lambda: sim.now() > _seconds(still.header.stamp) + 0.5, 30)
    assert abs(sim.odom[-1].pose.pose.position.x - x) < 0.01


def test_a_bad_cmd_vel_is_refused_and_the_node_keeps_running(sim: Client) -> None:
    message = Twist()
    message.linear.x = float("nan")
    sim.cmd_vel.publish(message)
    before = sim.now()  # past the watchdog (0.5 s) and the braking of any earlier command
    assert wait_for(lambda: sim.now() > before + 1.5, 30)
    assert abs(sim.odom[-1].twist.twist.linear.x) < 0.02


def _trajectory(names: list[str], positions: list[float], seconds: float) -> FollowJointTrajectory.Goal:
    point = JointTrajectoryPoint(
        positions=positions, time_from_start=Duration(sec=int(seconds), nanosec=int(seconds % 1 * 1e9))
    )
    return FollowJointTrajectory.Goal(trajectory=JointTrajectory(joint_names=names, points=[point]))


def test_the_arm_follows_a_trajectory_and_refuses_unknown_joints(sim: Client) -> None:
    result = goal_result(send_goal(sim.trajectory, _trajectory(ARM[:2], [0.5, 0.8], 1.5)))
    assert result.error_code == OK, result.error_string

    # Under load joint_states lags the result: wait for a message with both joints there.
    def there() -> bool:
        goal = {"piper_joint1": 0.5, "piper_joint2": 0.8}
        return all(abs(sim.position(name) - value) < 0.03 for name, value in goal.items())

    assert wait_for(there, 10), (sim.position("piper_joint1"), sim.position("piper_joint2"))
    bad = goal_result(send_goal(sim.trajectory, _trajectory(["elbow"], [0.1], 1.0)))
    assert bad.error_code == FollowJointTrajectory.Result.INVALID_JOINTS
    assert "piper_joint1" in bad.error_string
    out_of_range = goal_result(send_goal(sim.trajectory, _trajectory(["piper_joint2"], [9.0], 1.0)))
    assert out_of_range.error_code == FollowJointTrajectory.Result.INVALID_GOAL
    assert "piper_joint2 in [" in out_of_range.error_string


def test_the_gripper_closes(sim: Client) -> None:
    goal = GripperCommand.Goal(command=GripperGoal(position=0.01, max_effort=0.0))  # a 20 mm opening
    result = goal_result(send_goal(sim.gripper, goal))
    assert result.reached_goal and result.position == pytest.approx(0.01, abs=0.002)

    def width() -> float:
        return sim.position("piper_joint7") + sim.position("piper_joint8")

    assert wait_for(lambda: abs(width() - 0.02) < 0.003, 10), width()  # joint_states may lag the result


def test_a_watched_camera_streams_images_with_camera_info(sim: Client) -> None:
    node, ns = sim.node, sim.ns
    colour: list[Image] = []
    depth: list[Image] = []
    infos: list[CameraInfo] = []
    subscriptions = [
        node.create_subscription(Image, f"{ns}/head_camera/color/image_raw", colour.append, IMAGE_QOS),
        node.create_subscription(Image, f"{ns}/head_camera/depth/image_raw", depth.append, IMAGE_QOS),
        node.create_subscription(CameraInfo, f"{ns}/head_camera/color/camera_info", infos.append, STATE_QOS),
    ]
    try:
        assert wait_for(lambda: colour and depth and infos, 30), "no head camera images"
    finally:
        for subscription in subscriptions:
            node.destroy_subscription(subscription)
    image, info = colour[0], infos[0]
    assert image.encoding == "rgb8" and (image.width, image.height) == (160, 120)
    assert depth[0].encoding == "32FC1"
    assert image.header.frame_id == info.header.frame_id == "head_camera_color_optical_frame"
    assert (info.width, info.height) == (160, 120) and info.k[0] > 0
    # TF knows the optical frame at the image's instant.
    sim.tf.lookup("map", image.header.frame_id, stamp=_seconds(image.header.stamp), timeout=10.0)


def test_the_scene_services_serve_the_house_tasks_and_refuse_bad_requests(sim: Client) -> None:
    node, ns = sim.node, sim.ns
    scenes: list[ResetScene.Response] = []
    node.create_subscription(ResetScene.Response, f"{ns}/scene", scenes.append, LATCHED_QOS)
    reset = node.create_client(ResetScene, f"{ns}/reset_scene")
    progress = node.create_client(GetTaskProgress, f"{ns}/get_task_progress")
    segmentation = node.create_client(GetSegmentation, f"{ns}/get_segmentation")
    assert wait_for(lambda: scenes, 20), "no latched scene message"
    assert scenes[-1].task == "trash_ball" and "green plush ball" in scenes[-1].instruction
    score = call(progress, GetTaskProgress.Request())
    assert score.success and score.task == "trash_ball" and score.progress == 0.0
    assert [s.name for s in score.stages][-1] == "toy in the can" and not any(s.reached for s in score.stages)

    bad = call(reset, ResetScene.Request(task="ball_in_bowl"))
    assert not bad.success and bad.error_code == ErrorCode.NOT_FOUND
    assert "open_door, find_ball, trash_ball, collect_toys" in bad.message
    assert list(bad.available_tasks) == ["open_door", "find_ball", "trash_ball", "collect_toys"]
    bad = call(reset, ResetScene.Request(task="find_ball", perturbation="lighting"))
    assert not bad.success and "valid: none, visual, pose, new_object, language" in bad.message
    missing = call(segmentation, GetSegmentation.Request(camera="tail"))
    assert not missing.success and "head" in missing.message and "wrist" in missing.message

    before = sim.now()
    done = call(reset, ResetScene.Request(task="find_ball", seed=2, perturbation="new_object"), 60)
    assert done.success, done.message
    assert done.task == "find_ball" and done.objects[0] in done.instruction
    assert done.objects[0] != "orange plush ball"  # another toy is hidden
    assert wait_for(lambda: scenes[-1].task == "find_ball", 10)
    assert wait_for(lambda: sim.now() > before + 0.5, 30)  # sim time runs on; the node keeps serving
    assert call(progress, GetTaskProgress.Request()).task == "find_ball"

    view = call(segmentation, GetSegmentation.Request())  # the head camera by default
    assert view.success, view.message
    assert (view.image.width, view.image.height) == (160, 120) and view.segmentation.encoding == "32SC1"
    assert view.image.header.frame_id == "head_camera_color_optical_frame"  # as TF names it
    assert done.objects[0] in view.instance_labels and "robot" in view.instance_labels
    # The camera pose is in base_link, as TF has it.
    head = sim.tf.lookup("base_link", "head_camera_color_optical_frame", timeout=10.0)
    np.testing.assert_allclose(pose_to_matrix(view.camera_pose)[:3, 3], head[:3, 3], atol=0.01)
    restored = call(reset, ResetScene.Request(task="trash_ball"), 60)  # seed 0, none: as the fixture began
    assert restored.success and restored.instruction.startswith("Trash out the green plush ball")


def test_the_sim_detector_finds_house_objects_through_the_go2w_node(sim: Client) -> None:
    node, ns = sim.node, sim.ns
    detector = spawn_node(
        "maestro_tools.perception.detector_node", ns, robot="go2w_piper", backend="sim",
        default_camera="head", timeout=20.0,
    )  # fmt: skip
    try:
        client = node.create_client(Detect, f"{ns}/detect")
        answer = call(client, Detect.Request(labels=["shelf"]), 60)
        assert answer.success, answer.message
        shelf = answer.detections[0]
        assert shelf.label == "shelf" and shelf.header.frame_id == "base_link" and shelf.has_3d
        position = shelf.pose.position  # the shelf is ~2.9 m ahead of the start pose, ~0.6 m left
        assert 2.5 < position.x < 3.3 and 0.2 < position.y < 1.0, position
        lost = call(client, Detect.Request(labels=["orange plush ball"]), 60)  # behind the sofa
        assert not lost.success and lost.error_code == ErrorCode.NOT_FOUND
        assert "shelf" in lost.visible_labels
    finally:
        output = stop(detector)
    assert "Traceback" not in output, output


class _FailingWorld:
    """A world whose every call fails with an unexpected (non-Maestro) error."""

    def __init__(self) -> None:
        self.info = SceneInfo(
            "trash_ball", 0, "none", "Trash out the green plush ball.", ("green plush ball",)
        )

    def reset(self, task: str, seed: int = 0, perturbation: str = "none") -> SceneInfo:
        raise RuntimeError(f"boom in {task}")

    def progress(self) -> tuple[float, list[StageReport]]:
        raise ZeroDivisionError("no stages")


class _InlineRunner:
    def call(self, function: Callable[[], Any], timeout: float = 30.0) -> Any:  # in the caller's thread
        return function()

    def preempt(self, reason: str) -> None:
        pass


def test_unexpected_errors_are_answered_and_the_services_keep_serving() -> None:
    ns = "/" + unique("scene_services")

    def server(context: Context) -> Node:
        node = Node(unique("fake_sim"), namespace=ns, context=context)

        def view(camera: str) -> GroundTruthView:
            raise KeyError(camera)

        node.services_under_test = SceneServices(  # type: ignore[attr-defined]
            node, _FailingWorld(), _InlineRunner(), ReentrantCallbackGroup(), tasks=("trash_ball",),
            perturbations=("none",), view=view, default_camera="head",
        )  # fmt: skip
        return node

    with ros_graph(server, lambda c: Node(unique("fake_client"), context=c)) as (_, client):
        for _ in range(2):  # the second round: the node is still there
            reset = call(client.create_client(ResetScene, f"{ns}/reset_scene"), ResetScene.Request())
            assert not reset.success and reset.error_code == ErrorCode.BACKEND_ERROR
            assert "RuntimeError: boom in trash_ball" in reset.message
            assert list(reset.available_tasks) == ["trash_ball"]
            score = call(
                client.create_client(GetTaskProgress, f"{ns}/get_task_progress"), GetTaskProgress.Request()
            )
            assert not score.success and "ZeroDivisionError" in score.message
            view = call(
                client.create_client(GetSegmentation, f"{ns}/get_segmentation"), GetSegmentation.Request()
            )
            assert not view.success and "KeyError: 'head'" in view.message
