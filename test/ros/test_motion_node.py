"""The motion node over ROS with its scene camera missing, and bad goals (contact ones included)."""

from __future__ import annotations

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node

from maestro_msgs.action import MoveArm
from maestro_msgs.msg import ErrorCode
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.conversions import matrix_to_pose
from test.ros.helpers import goal_result, ros_graph, send_goal, spawn_node, stop, unique
from test.sim.test_motion_scene import down


def _pose(x: float, y: float, z: float) -> PoseStamped:
    return PoseStamped(pose=matrix_to_pose(down(x, y, z)))


def test_without_its_scene_camera_motion_plans_against_robot_and_table_and_says_so() -> None:
    ns = "/" + unique("motion")
    processes = [
        spawn_node("maestro_tools.sim.node", ns, task="ball_in_bowl"),
        spawn_node("maestro_tools.motion.node", ns, scene_camera="ceiling", scene_timeout=0.3),
    ]
    try:
        with ros_graph(lambda c: Node(unique("motion_client"), context=c)) as (node,):
            arm = ThreadSafeActionClient(node, MoveArm, f"{ns}/move_arm")
            feedback: list = []
            target = _pose(0.45, 0.0, 0.3)
            target.header.frame_id = "base"
            moved = goal_result(
                send_goal(arm, MoveArm.Goal(mode=MoveArm.Goal.POSE, waypoints=[target]), feedback)
            )
            assert moved.success, moved.message
            assert "no ceiling camera frame" in moved.message
            assert "robot and the support surfaces only" in moved.message
            states = [f.feedback.state for f in feedback]
            assert states[0] == MoveArm.Feedback.PLANNING and MoveArm.Feedback.MOVING in states

            bad = goal_result(
                send_goal(arm, MoveArm.Goal(mode=MoveArm.Goal.POSE, path=7, waypoints=[target]))
            )
            assert (
                bad.error_code == ErrorCode.INVALID_ARGUMENT
                and "0 AUTO, 1 CARTESIAN, 2 PLANNED" in bad.message
            )
            deep = goal_result(
                send_goal(
                    arm, MoveArm.Goal(mode=MoveArm.Goal.POSE, contact=True, max_depth=0.2, waypoints=[target])
                )
            )
            assert (
                deep.error_code == ErrorCode.INVALID_ARGUMENT
                and "max_depth = 0.2 m is out of range" in deep.message
            )
            joints = goal_result(send_goal(arm, MoveArm.Goal(mode=MoveArm.Goal.JOINTS, contact=True)))
            assert joints.error_code == ErrorCode.INVALID_ARGUMENT and "not JOINTS" in joints.message
            far = _pose(1.5, 0.0, 0.3)
            far.header.frame_id = "base"
            feedback.clear()
            out = goal_result(send_goal(arm, MoveArm.Goal(mode=MoveArm.Goal.POSE, waypoints=[far]), feedback))
            assert out.error_code == ErrorCode.UNREACHABLE and "reaches about" in out.message
            assert feedback[-1].feedback.state == MoveArm.Feedback.UNREACHABLE
    finally:
        outputs = [stop(p) for p in processes]
    assert not any("Traceback" in output for output in outputs), outputs
