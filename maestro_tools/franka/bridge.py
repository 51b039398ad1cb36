"""``franka_bridge_node``: the real Franka behind the same interface as the ``sim`` node (stock ROS only).

It serves maestro's ``execute_trajectory`` (ExecuteTrajectory) and ``gripper`` (GripperCommand)
actions and forwards them to the franka_ros2 stack started beside it
(``ros2 launch franka_bringup franka.launch.py robot_ip:=...``): the arm's
``control_msgs/FollowJointTrajectory`` controller and the ``franka_msgs`` gripper actions.
``control_msgs`` and ``franka_msgs`` exist only on a ROS install; without them the node exits with
one sentence saying what to install. Not tested against a robot here (no ROS install, no robot).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from maestro_msgs.action import ExecuteTrajectory, GripperCommand
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.errors import ErrorCode, UnavailableError
from maestro_tools.common.node_main import run_node
from maestro_tools.common.params import declare
from maestro_tools.common.spinning import wait_future_blocking

GRIPPER_MAX_WIDTH = 0.08


def _franka_interfaces() -> tuple[Any, Any, Any]:
    try:
        from control_msgs.action import FollowJointTrajectory
        from franka_msgs.action import Grasp, Move
    except ImportError as exc:
        raise UnavailableError(
            f"the Franka bridge needs control_msgs and franka_msgs ({exc.name} is missing): install "
            "ros-$ROS_DISTRO-control-msgs and franka_ros2, or run the simulation (sim:=true)"
        ) from None
    return FollowJointTrajectory, Grasp, Move


class FrankaBridge(Node):
    def __init__(self) -> None:
        super().__init__("franka_bridge")
        self.FollowJointTrajectory, self.Grasp, self.Move = _franka_interfaces()
        controller = declare(
            self,
            "arm_controller",
            "/fr3_arm_controller/follow_joint_trajectory",
            "FollowJointTrajectory action of the arm controller",
            read_only=True,
        )
        gripper = declare(
            self,
            "gripper_namespace",
            "/franka_gripper",
            "Namespace of the franka_gripper actions",
            read_only=True,
        )
        self.joint_prefix = declare(
            self,
            "joint_prefix",
            "fr3_",
            "Prefix of the robot's joint names (maestro's panda_jointN become <prefix>jointN)",
            read_only=True,
        )
        self.grasp_force = declare(self, "grasp_force", 30.0, "Grasp force, N", minimum=1.0, maximum=70.0)
        self.speed = declare(self, "gripper_speed", 0.1, "Gripper speed, m/s", minimum=0.01, maximum=0.2)
        group = ReentrantCallbackGroup()
        self.arm = ThreadSafeActionClient(self, self.FollowJointTrajectory, controller, callback_group=group)
        self.grasp = ThreadSafeActionClient(self, self.Grasp, f"{gripper}/grasp", callback_group=group)
        self.move = ThreadSafeActionClient(self, self.Move, f"{gripper}/move", callback_group=group)
        accept = {
            "goal_callback": lambda _: GoalResponse.ACCEPT,
            "cancel_callback": lambda _: CancelResponse.ACCEPT,
            "callback_group": group,
        }
        ActionServer(
            self, ExecuteTrajectory, "execute_trajectory", execute_callback=self.execute_trajectory, **accept
        )
        ActionServer(self, GripperCommand, "gripper", execute_callback=self.execute_gripper, **accept)

    def _forward(
        self, client: ThreadSafeActionClient, goal: Any, handle: ServerGoalHandle, on_feedback: Any = None
    ) -> Any:
        """Send ``goal`` to the robot's action and relay cancels; its result, or None if unreachable."""
        if not client.wait_for_server(timeout_sec=2.0):
            return None
        sent = client.send_goal_async(goal, feedback_callback=on_feedback)
        robot_goal = wait_future_blocking(sent, 5.0)
        if robot_goal is None or not robot_goal.accepted:
            return None
        result = robot_goal.get_result_async()
        done = threading.Event()
        result.add_done_callback(lambda _: done.set())
        canceled = False
        while not done.wait(0.05):
            if handle.is_cancel_requested and not canceled:
                wait_future_blocking(robot_goal.cancel_goal_async(), 2.0)
                canceled = True
        return result.result().result

    def execute_trajectory(self, handle: ServerGoalHandle) -> ExecuteTrajectory.Result:
        trajectory = handle.request.trajectory
        names = [n.replace("panda_", self.joint_prefix) for n in trajectory.joint_names]
        goal = self.FollowJointTrajectory.Goal()
        goal.trajectory = trajectory
        goal.trajectory.joint_names = names

        def feedback(message: Any) -> None:
            fb = message.feedback
            handle.publish_feedback(
                ExecuteTrajectory.Feedback(
                    joint_names=list(trajectory.joint_names),
                    desired=list(fb.desired.positions),
                    actual=list(fb.actual.positions),
                )
            )

        robot = self._forward(self.arm, goal, handle, feedback)
        result = ExecuteTrajectory.Result(joint_names=list(trajectory.joint_names))
        if robot is None:
            result.error_code, result.message = (
                int(ErrorCode.UNAVAILABLE),
                "the arm controller is not available",
            )
        elif handle.is_cancel_requested:
            handle.canceled()
            result.error_code, result.message = int(ErrorCode.CANCELED), "canceled"
            return result
        elif robot.error_code != 0:
            result.error_code, result.message = (
                int(ErrorCode.BACKEND_ERROR),
                f"controller: {robot.error_string}",
            )
        else:
            result.success, result.message = True, "trajectory complete"
        (handle.succeed if result.success else handle.abort)()
        return result

    def execute_gripper(self, handle: ServerGoalHandle) -> GripperCommand.Result:
        request, result = handle.request, GripperCommand.Result()
        if request.command == GripperCommand.Goal.GRASP:
            goal = self.Grasp.Goal(width=0.0, speed=self.speed, force=request.force or self.grasp_force)
            goal.epsilon.inner, goal.epsilon.outer = 0.005, GRIPPER_MAX_WIDTH
            robot = self._forward(self.grasp, goal, handle)
        else:
            widths = {
                GripperCommand.Goal.OPEN: GRIPPER_MAX_WIDTH,
                GripperCommand.Goal.CLOSE: 0.0,
                GripperCommand.Goal.MOVE: request.width,
            }
            if request.command not in widths or not 0.0 <= widths[request.command] <= GRIPPER_MAX_WIDTH:
                handle.abort()
                result.error_code = int(ErrorCode.INVALID_ARGUMENT)
                result.message = (
                    f"command must be OPEN, CLOSE, GRASP or MOVE with width in [0, {GRIPPER_MAX_WIDTH}]"
                )
                return result
            robot = self._forward(
                self.move, self.Move.Goal(width=widths[request.command], speed=self.speed), handle
            )
        if robot is None:
            result.error_code, result.message = (
                int(ErrorCode.UNAVAILABLE),
                "the franka_gripper is not available",
            )
        elif request.command == GripperCommand.Goal.GRASP and not robot.success:
            result.error_code = int(ErrorCode.GRASP_FAILED)
            result.message = f"the gripper closed on nothing ({robot.error})"
        elif not robot.success:
            result.error_code, result.message = int(ErrorCode.BACKEND_ERROR), f"franka_gripper: {robot.error}"
        else:
            result.success, result.message = True, "done"
            result.object_held = request.command == GripperCommand.Goal.GRASP
        (handle.succeed if result.success else handle.abort)()
        return result


def main(args: Sequence[str] | None = None) -> int:
    return run_node(FrankaBridge, args)


if __name__ == "__main__":
    sys.exit(main())
