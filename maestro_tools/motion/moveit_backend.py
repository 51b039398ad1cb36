"""The ``moveit`` motion backend: plans and executes through moveit_py on a stock ROS install.

Thin by design: MoveIt (with the robot's MoveIt configuration and controllers running) does the
collision-aware planning against its planning scene and the execution; this class turns MoveArm goals
into planning-component goals. moveit_py is not installable from PyPI, so this backend is not run on
the machines without a ROS install; there, `backend: mink` is the motion backend.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from geometry_msgs.msg import PoseStamped
from rclpy.action.server import ServerGoalHandle

from maestro_msgs.action import MoveArm
from maestro_tools.common.errors import (
    BackendError,
    ErrorCode,
    InvalidArgumentError,
    MaestroError,
    UnavailableError,
    UnreachableError,
)


def load_moveit(node_name: str) -> Any:
    """A MoveItPy instance, or an error saying what is missing."""
    try:
        from moveit.planning import MoveItPy
    except ImportError:
        raise UnavailableError(
            "backend moveit needs moveit_py (apt install ros-$ROS_DISTRO-moveit-py on a stock ROS install, "
            "with the robot's MoveIt config launched); without it use backend mink"
        ) from None
    return MoveItPy(node_name=node_name)


class MoveItMotion:
    """MoveArm goals through one MoveIt planning group; one motion at a time."""

    def __init__(self, moveit: Any, group: str, tcp_link: str) -> None:
        self.moveit, self.tcp_link = moveit, tcp_link
        self.arm = moveit.get_planning_component(group)
        self._lock = threading.Lock()

    def _plan_and_execute(self) -> None:
        result = self.arm.plan()
        if not result:
            raise UnreachableError("MoveIt found no collision-free plan to the goal; try another pose")
        status = self.moveit.execute(result.trajectory, controllers=[])
        if status is not None and not getattr(status, "status", "SUCCEEDED") == "SUCCEEDED":
            raise BackendError(f"MoveIt execution ended with {status.status}")

    def move_to_poses(self, waypoints: Sequence[PoseStamped]) -> None:
        """Plan and execute to each waypoint in turn (MoveIt plans each leg around its planning scene)."""
        with self._lock:
            for stamped in waypoints:
                self.arm.set_start_state_to_current_state()
                self.arm.set_goal_state(pose_stamped_msg=stamped, pose_link=self.tcp_link)
                self._plan_and_execute()

    def move_to_joints(self, names: Sequence[str], positions: Sequence[float]) -> None:
        from moveit.core.robot_state import RobotState

        if len(names) != len(positions):
            raise InvalidArgumentError("joint_names and joint_positions differ in length")
        with self._lock:
            goal = RobotState(self.moveit.get_robot_model())
            goal.joint_positions = dict(zip(names, positions, strict=True))
            self.arm.set_start_state_to_current_state()
            self.arm.set_goal_state(robot_state=goal)
            self._plan_and_execute()

    def stop(self) -> None:
        """Stop the running execution (the action's cancel)."""
        self.moveit.get_trajectory_execution_manager().stop_execution()

    def run_goal(self, handle: ServerGoalHandle) -> MoveArm.Result:
        """A MoveArm goal: MoveIt plans and executes in a worker thread; a cancel stops its execution."""
        result, outcome = MoveArm.Result(), {}

        def run() -> None:
            try:
                self._goal(handle.request)
            except MaestroError as exc:
                outcome["error"] = exc

        worker = threading.Thread(target=run, name="moveit-goal", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.02)
            if handle.is_cancel_requested:
                self.stop()
                worker.join(2.0)
                handle.canceled()
                result.error_code, result.message = (
                    int(ErrorCode.CANCELED),
                    "canceled; MoveIt stopped the arm",
                )
                return result
        error = outcome.get("error")
        if error is not None:
            handle.abort()
            result.error_code, result.message = int(error.code), str(error)
            return result
        handle.succeed()
        result.success, result.message = True, "MoveIt reached the goal"
        return result

    def _goal(self, request: MoveArm.Goal) -> None:
        if request.mode == MoveArm.Goal.JOINTS:
            self.move_to_joints(list(request.joint_names), list(request.joint_positions))
        elif request.waypoints and all(w.header.frame_id for w in request.waypoints):
            self.move_to_poses(list(request.waypoints))
        else:
            raise InvalidArgumentError(
                "give joint positions (JOINTS) or waypoints with a frame_id (POSE, WAYPOINTS)"
            )
