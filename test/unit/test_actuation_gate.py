"""The actuation gate: what a motion goal must satisfy before the agent sends it, and supervision."""

from __future__ import annotations

import threading
import time

import pytest
from control_msgs.action import GripperCommand
from geometry_msgs.msg import PoseStamped

from maestro_agent.proxy.gate import ActuationGate, GateLimits
from maestro_agent.sandbox import channel
from maestro_msgs.action import MoveArm
from maestro_tools.common.errors import CanceledError, InvalidArgumentError, OutOfLimitsError
from maestro_tools.robots import get_robot
from maestro_tools.robots.model import RobotModel

FRANKA = get_robot("franka")
MODEL = RobotModel(FRANKA)


def gate(**limits: object) -> ActuationGate:
    confirm = limits.pop("confirm", None)
    return ActuationGate(FRANKA, (MODEL.lower, MODEL.upper), GateLimits(**limits), ["move_arm"], confirm)  # type: ignore[arg-type]


def pose_goal(x: float, y: float, z: float, speed: float = 0.5, frame: str = "base") -> MoveArm.Goal:
    pose = PoseStamped()
    pose.header.frame_id = frame
    pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = x, y, z
    pose.pose.orientation.w = 1.0
    return MoveArm.Goal(mode=MoveArm.Goal.POSE, waypoints=[pose], velocity_scaling=speed)


def joint_goal(positions: list[float]) -> MoveArm.Goal:
    return MoveArm.Goal(
        mode=MoveArm.Goal.JOINTS,
        joint_names=list(FRANKA.arm.joints),
        joint_positions=positions,
        velocity_scaling=0.3,
    )


def gripper_goal(position: float, force: float) -> GripperCommand.Goal:
    goal = GripperCommand.Goal()
    goal.command.position, goal.command.max_effort = position, force
    return goal


def test_goals_inside_the_limits_pass_and_speed_is_capped() -> None:
    g = gate(max_speed=0.4)
    assert g.admit(pose_goal(0.5, 0.0, 0.3, speed=0.3)).velocity_scaling == pytest.approx(0.3)
    assert g.admit(pose_goal(0.5, 0.0, 0.3, speed=1.0)).velocity_scaling == pytest.approx(0.4)
    assert g.admit(pose_goal(0.5, 0.0, 0.3, speed=0.0)).velocity_scaling == pytest.approx(
        0.4
    )  # the default too
    assert g.admit(joint_goal(list(FRANKA.arm.home))) is not None
    assert g.admit(gripper_goal(0.04, 20.0)) is not None
    assert g.admit("not a motion goal") == "not a motion goal"


@pytest.mark.parametrize(
    ("goal", "error", "text"),
    [
        (pose_goal(3.0, 0.0, 0.3), OutOfLimitsError, "outside the workspace x -0.2..0.9"),
        (pose_goal(0.5, 0.0, float("nan")), OutOfLimitsError, "outside the workspace"),
        (pose_goal(0.5, 0.0, 0.3, frame="map"), InvalidArgumentError, "in frame 'map'"),
        (
            pose_goal(0.5, 0.0, 0.3, speed=-1.0),
            InvalidArgumentError,
            "speed (velocity_scaling) must be in",
        ),
        (
            joint_goal([0.0, 0.0, 0.0, 0.5, 0.0, 1.5, 0.0]),
            OutOfLimitsError,
            "panda_joint4 = 0.5000 rad is",
        ),
        (gripper_goal(0.5, 10.0), OutOfLimitsError, "gripper position 0.5 is outside [0, 0.08]"),
        (gripper_goal(0.04, 500.0), OutOfLimitsError, "gripper force 500 N is above the limit of"),
        (MoveArm.Goal(mode=MoveArm.Goal.POSE), InvalidArgumentError, "needs a target"),
    ],
)
def test_goals_beyond_the_limits_are_refused_naming_the_limit(goal: object, error: type, text: str) -> None:
    with pytest.raises(error) as caught:
        gate().admit(goal)
    assert text in str(caught.value)


def test_motion_rate_is_limited() -> None:
    g = gate(motion_rate_hz=2.0)
    for _ in range(4):  # a burst of twice the rate
        g.admit(pose_goal(0.5, 0.0, 0.3))
    with pytest.raises(OutOfLimitsError, match="limited to 2 per second"):
        g.admit(pose_goal(0.5, 0.0, 0.3))
    time.sleep(0.6)
    g.admit(pose_goal(0.5, 0.0, 0.3))


def test_no_motion_while_a_cancel_is_pending() -> None:
    context = channel.CallContext(line=1, deadline=1e12, on_event=lambda e: None, on_image=lambda *a: None)
    context.cancelled.set()
    with channel.serving(context), pytest.raises(CanceledError, match="cancel is pending"):
        gate().admit(pose_goal(0.5, 0.0, 0.3))


def test_allowlist() -> None:
    g = gate()
    g.allow("move_arm")
    with pytest.raises(OutOfLimitsError, match="may not call 'cmd_vel'; allowed: move_arm"):
        g.allow("cmd_vel")


def test_supervised_motion_waits_for_the_operator() -> None:
    asked: list[str] = []
    answers = iter([True, False])

    def confirm(description: str, timeout: float) -> bool:
        asked.append(description)
        return next(answers)

    g = gate(supervised=True, confirm=confirm)
    g.admit(pose_goal(0.5, 0.0, 0.3))
    with pytest.raises(CanceledError, match="did not confirm"):
        g.admit(pose_goal(0.4, 0.1, 0.2))
    assert asked[0].startswith("move the gripper to [0.5, 0.0, 0.3]") and len(asked) == 2
    with pytest.raises(InvalidArgumentError, match="supervised mode needs"):
        gate(supervised=True)
    assert threading.active_count() >= 1
