"""Bad requests to the module nodes over ROS: typed refusals naming field, value and range; the nodes
live on and still answer a good request afterwards."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import PointCloud2, PointField

from maestro_msgs.action import MoveArm
from maestro_msgs.msg import ErrorCode
from maestro_msgs.srv import Detect, PlanGrasp, Point
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.conversions import matrix_to_pose
from maestro_tools.robots.franka import FRANKA
from test.ros.helpers import call, goal_result, ros_graph, send_goal, spawn_node, stop, unique
from test.sim.test_motion_scene import down

PARAMS = str(Path(__file__).resolve().parents[2] / "config" / "franka" / "params.yaml")
LONG = "q" * 5000


def _target(x: float, y: float, z: float, frame: str = "base") -> PoseStamped:
    stamped = PoseStamped(pose=matrix_to_pose(down(x, y, z)))
    stamped.header.frame_id = frame
    return stamped


def _refused(reply: object, code: int, *parts: str) -> None:
    assert not reply.success and reply.error_code == code, (reply.error_code, reply.message)
    assert all(part in reply.message for part in parts), reply.message
    assert len(reply.message) < 400, reply.message  # an over-long value is quoted by a prefix only


def _alive_and_clean(processes: list[subprocess.Popen[str]]) -> None:
    assert all(p.poll() is None for p in processes), "a node died"
    outputs = [stop(p) for p in processes]
    assert not any("Traceback" in output for output in outputs), outputs


def test_motion_refuses_bad_goals_and_then_moves() -> None:
    ns = "/" + unique("checked_motion")
    processes = [
        spawn_node("maestro_tools.sim.node", ns, task="ball_in_bowl"),
        spawn_node("maestro_tools.motion.node", ns, (PARAMS,)),
    ]
    try:
        with ros_graph(lambda c: Node(unique("motion_client"), context=c)) as (node,):
            arm = ThreadSafeActionClient(node, MoveArm, f"{ns}/move_arm")

            def move(feedback: list | None = None, **fields: object) -> MoveArm.Result:
                return goal_result(send_goal(arm, MoveArm.Goal(**fields), feedback))

            pose = {"mode": MoveArm.Goal.POSE, "waypoints": [_target(0.45, 0.0, 0.3)]}
            _refused(
                move(**pose, velocity_scaling=-1.0),
                ErrorCode.OUT_OF_LIMITS,
                "velocity_scaling = -1",
                "[0, 1]",
            )
            _refused(
                move(**pose, velocity_scaling=math.nan), ErrorCode.INVALID_ARGUMENT, "velocity_scaling is nan"
            )
            _refused(move(**pose, timeout=-1.0), ErrorCode.INVALID_ARGUMENT, "timeout = -1 s", "[0, 3600] s")
            nan = _target(0.45, 0.0, 0.3)
            nan.pose.position.x = math.inf
            _refused(
                move(mode=MoveArm.Goal.POSE, waypoints=[nan]),
                ErrorCode.INVALID_ARGUMENT,
                "waypoints[0].pose.position.x is inf",
            )
            _refused(
                move(mode=MoveArm.Goal.POSE, waypoints=[_target(0.45, 0.0, 0.3, LONG)]),
                ErrorCode.INVALID_ARGUMENT,
                "waypoints[0].header.frame_id",
                "5000 characters",
            )
            joints = list(FRANKA.arm.home)
            joints[3] = 0.5  # joint 4 stays below -0.07 rad
            _refused(
                move(mode=MoveArm.Goal.JOINTS, joint_names=list(FRANKA.arm.joints), joint_positions=joints),
                ErrorCode.OUT_OF_LIMITS,
                f"{FRANKA.arm.joints[3]} = 0.5000 outside",
            )
            feedback: list = []
            inside = move(feedback, mode=MoveArm.Goal.POSE, waypoints=[_target(0.45, 0.0, -0.05)])
            _refused(inside, ErrorCode.COLLISION, "inside the table")
            assert feedback[-1].feedback.state == MoveArm.Feedback.BLOCKED

            _refused(move(**pose, timeout=0.2), ErrorCode.TIMEOUT, "beyond its timeout of 0.2 s")
            moved = move(**pose, velocity_scaling=1.0, timeout=60.0)
            assert moved.success, moved.message
    finally:
        _alive_and_clean(processes)


def test_perception_and_grasping_refuse_bad_requests_and_plan_grasps_from_a_label() -> None:
    ns = "/" + unique("checked_modules")
    processes = [
        spawn_node("maestro_tools.sim.node", ns, task="ball_in_bowl"),
        spawn_node("maestro_tools.perception.detector_node", ns, (PARAMS,), timeout=20.0),
        spawn_node("maestro_tools.perception.keypointer_node", ns, (PARAMS,), timeout=20.0),
        spawn_node("maestro_tools.grasping.node", ns, (PARAMS,)),
    ]
    try:
        with ros_graph(lambda c: Node(unique("modules_client"), context=c)) as (node,):
            detect = node.create_client(Detect, f"{ns}/detect")
            point = node.create_client(Point, f"{ns}/point")
            plan = node.create_client(PlanGrasp, f"{ns}/plan_grasp")

            bad = Detect.Request(labels=["bowl"], min_score=math.nan)
            _refused(call(detect, bad, 40), ErrorCode.INVALID_ARGUMENT, "min_score is nan", "[0, 1]")
            bad = Detect.Request(labels=["bowl"], min_score=2.0)
            _refused(call(detect, bad, 40), ErrorCode.INVALID_ARGUMENT, "min_score = 2", "[0, 1]")
            _refused(
                call(detect, Detect.Request(labels=["bowl", " "])), ErrorCode.INVALID_ARGUMENT, "labels[1]"
            )
            _refused(call(detect, Detect.Request(camera=LONG)), ErrorCode.INVALID_ARGUMENT, "camera 'qqq")
            found = call(detect, Detect.Request(labels=["tennis ball"], min_score=0.5), 40)
            assert found.success and found.detections[0].has_3d, found.message

            _refused(call(point, Point.Request(description=LONG)), ErrorCode.INVALID_ARGUMENT, "description")
            bad = Point.Request(description="the top of the bowl", max_points=1000)
            _refused(call(point, bad), ErrorCode.INVALID_ARGUMENT, "max_points = 1000", "[0, 20]")
            top = call(point, Point.Request(description="the top of the tennis ball"), 40)
            assert top.success and top.points[0].has_3d, top.message

            for width in (-1.0, 0.5):
                bad = PlanGrasp.Request(label="tennis ball", max_width=width)
                _refused(call(plan, bad), ErrorCode.OUT_OF_LIMITS, f"max_width = {width:g} m", "[0, 0.08] m")
            bad = PlanGrasp.Request(label="tennis ball", max_width=math.nan)
            _refused(call(plan, bad), ErrorCode.INVALID_ARGUMENT, "max_width is nan")
            _refused(call(plan, PlanGrasp.Request(label=LONG)), ErrorCode.INVALID_ARGUMENT, "label", "5000")
            _refused(call(plan, PlanGrasp.Request()), ErrorCode.INVALID_ARGUMENT, "label")
            # A cloud whose fields lie outside its points: refused, not a crash.
            cloud = PointCloud2(width=20, height=1, point_step=12, row_step=240, data=bytes(240))
            cloud.fields = [
                PointField(name=n, offset=100, datatype=PointField.FLOAT32, count=1) for n in "xyz"
            ]
            _refused(call(plan, PlanGrasp.Request(cloud=cloud)), ErrorCode.INVALID_ARGUMENT, "cloud")
            unknown = call(plan, PlanGrasp.Request(label="unicorn"), 40)
            _refused(unknown, ErrorCode.NOT_FOUND, "unicorn", "tennis ball")

            grasps = call(plan, PlanGrasp.Request(label="tennis ball", check_reachability=True), 60)
            assert grasps.success and grasps.grasps, grasps.message
            assert all(g.object_label == "tennis ball" and g.reachable for g in grasps.grasps)
            # The detector's own detections pass the checks (3D fields in the base frame).
            direct = call(plan, PlanGrasp.Request(detection=found.detections[0]), 60)
            assert direct.success and direct.grasps[0].object_label == "tennis ball", direct.message
    finally:
        _alive_and_clean(processes)
