"""The request-field checks of maestro_tools/common/validate.py and the goal/request checks built on them."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from maestro_tools.common.errors import (
    BackendError,
    ErrorCode,
    InvalidArgumentError,
    NotFoundError,
    OutOfLimitsError,
)
from maestro_tools.common.validate import (
    QUOTE_LIMIT,
    answer_errors,
    count,
    frame,
    number,
    numbers,
    pose,
    quote,
    text,
    texts,
)


def _pose(x: float = 0.0, qw: float = 1.0, qx: float = 0.0) -> SimpleNamespace:
    return SimpleNamespace(
        position=SimpleNamespace(x=x, y=0.0, z=0.0), orientation=SimpleNamespace(x=qx, y=0.0, z=0.0, w=qw)
    )


def test_number_refuses_nan_and_infinity_as_invalid_arguments() -> None:
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(InvalidArgumentError, match=r"max_width is (nan|inf|-inf).*valid: \[0, 0.08\] m"):
            number("max_width", bad, 0.0, 0.08, unit=" m", error=OutOfLimitsError)


def test_number_out_of_range_names_field_value_and_range_with_the_chosen_error() -> None:
    with pytest.raises(
        OutOfLimitsError, match=r"velocity_scaling = -1 is out of range; valid: \[0, 1\] \(0 = "
    ):
        number("velocity_scaling", -1.0, 0.0, 1.0, note="0 = the node's default", error=OutOfLimitsError)
    with pytest.raises(InvalidArgumentError, match=r"min_score = 1.5 .* valid: \[0, 1\]") as caught:
        number("min_score", 1.5, 0.0, 1.0)
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT
    with pytest.raises(InvalidArgumentError, match=r"valid: >= 0 m"):
        number("extent.x", -0.1, 0.0, unit=" m")
    assert number("velocity_scaling", 0.5, 0.0, 1.0) == 0.5 and number("x", 0.0, 0.0, 1.0) == 0.0


def test_numbers_and_counts() -> None:
    assert numbers("joint_positions", [0.0, 1]) == [0.0, 1.0]
    with pytest.raises(InvalidArgumentError, match=r"joint_positions\[1\] is nan"):
        numbers("joint_positions", [0.0, math.nan])
    assert count("max_grasps", 0, 100) == 0
    with pytest.raises(
        InvalidArgumentError, match=r"max_grasps = 4000000000 .* valid: \[0, 100\] \(0 = default\)"
    ):
        count("max_grasps", 4_000_000_000, 100, note="0 = default")


def test_long_strings_are_refused_quoting_only_a_prefix() -> None:
    long = "x" * 5000
    with pytest.raises(InvalidArgumentError) as caught:
        text("camera", long, 128)
    message = str(caught.value)
    assert "camera" in message and "5000 characters" in message and "at most 128 characters" in message
    assert len(message) < QUOTE_LIMIT + 120 and "x" * (QUOTE_LIMIT + 1) not in message
    assert quote("short") == "'short'"
    assert text("camera", "scene", 128) == "scene"


def test_required_and_listed_strings() -> None:
    with pytest.raises(InvalidArgumentError, match=r"description is empty.*e.g. 'the top of the bowl'"):
        text("description", "  ", 100, required=True, example="the top of the bowl")
    with pytest.raises(InvalidArgumentError, match=r"labels\[1\] is empty"):
        texts("labels", ["bowl", ""], 200, 32)
    with pytest.raises(InvalidArgumentError, match=r"labels has 40 entries; valid: at most 32"):
        texts("labels", ["bowl"] * 40, 200, 32)
    assert texts("labels", ["bowl", "tennis ball"], 200, 32) == ["bowl", "tennis ball"]


def test_pose_and_frame() -> None:
    pose("waypoints[0].pose", _pose())
    pose("waypoints[0].pose", _pose(qw=0.0), orientation=False)  # unused orientation: finite is enough
    with pytest.raises(InvalidArgumentError, match=r"waypoints\[0\].pose.position.x is nan"):
        pose("waypoints[0].pose", _pose(x=math.nan))
    with pytest.raises(InvalidArgumentError, match=r"orientation .* has norm 0; valid: a unit quaternion"):
        pose("waypoints[0].pose", _pose(qw=0.0))
    with pytest.raises(InvalidArgumentError, match=r"orientation.x is inf"):
        pose("p", _pose(qx=math.inf))
    assert frame("cloud.header.frame_id", "", "base") == "base"
    assert frame("cloud.header.frame_id", "/base", "base") == "base"
    with pytest.raises(InvalidArgumentError, match=r"'world'; valid: 'base'"):
        frame("cloud.header.frame_id", "world", "base")


class _Response:
    def __init__(self) -> None:
        self.success, self.error_code, self.message, self.items = True, 0, "", []


class _Node:
    def __init__(self) -> None:
        self.logged: list[str] = []

    def get_logger(self) -> SimpleNamespace:
        return SimpleNamespace(error=self.logged.append)

    @answer_errors
    def handle(self, request: str, response: _Response) -> _Response:
        response.items.append("partial")
        if request == "missing":
            raise NotFoundError("no such thing; visible: bowl")
        if request == "bug":
            raise ZeroDivisionError("division by zero")
        response.message = "ok"
        return response


def test_answer_errors_turns_every_exception_into_a_response() -> None:
    node = _Node()
    assert node.handle("fine", _Response()).message == "ok"
    missing = node.handle("missing", _Response())
    assert (missing.success, missing.error_code) == (
        False,
        ErrorCode.NOT_FOUND,
    ) and "visible" in missing.message
    bug = node.handle("bug", _Response())
    assert (bug.success, bug.error_code) == (False, BackendError.code) and bug.items == []
    assert "ZeroDivisionError: division by zero" in bug.message
    assert node.logged and "Traceback" in node.logged[0]


def test_move_arm_goal_checks() -> None:
    from geometry_msgs.msg import PoseStamped

    from maestro_msgs.action import MoveArm
    from maestro_tools.motion.goals import check_duration, check_goal, joint_goal

    target = PoseStamped()
    target.pose.position.x, target.pose.orientation.w = 0.4, 1.0
    check_goal(MoveArm.Goal(mode=MoveArm.Goal.POSE, waypoints=[target], velocity_scaling=0.5))
    for scaling, error in ((-1.0, OutOfLimitsError), (1.5, OutOfLimitsError), (0.001, OutOfLimitsError)):
        with pytest.raises(error, match=rf"velocity_scaling = {scaling:g} is out of range"):
            check_goal(MoveArm.Goal(mode=MoveArm.Goal.POSE, waypoints=[target], velocity_scaling=scaling))
    with pytest.raises(InvalidArgumentError, match=r"velocity_scaling is nan"):
        check_goal(MoveArm.Goal(mode=MoveArm.Goal.POSE, waypoints=[target], velocity_scaling=math.nan))
    with pytest.raises(InvalidArgumentError, match=r"timeout = -2 s is out of range; valid: \[0, 3600\] s"):
        check_goal(MoveArm.Goal(mode=MoveArm.Goal.POSE, waypoints=[target], timeout=-2.0))
    with pytest.raises(InvalidArgumentError, match=r"unknown mode 9; valid: 0 POSE"):
        check_goal(MoveArm.Goal(mode=9, waypoints=[target]))
    with pytest.raises(InvalidArgumentError, match=r"POSE needs exactly one waypoint.*got 2"):
        check_goal(MoveArm.Goal(mode=MoveArm.Goal.POSE, waypoints=[target, target]))
    with pytest.raises(InvalidArgumentError, match=r"joint_positions\[0\] is inf"):
        check_goal(MoveArm.Goal(mode=MoveArm.Goal.JOINTS, joint_names=["a"], joint_positions=[math.inf]))
    goal = MoveArm.Goal(mode=MoveArm.Goal.JOINTS, joint_names=["b", "a"], joint_positions=[0.5, 3.0])
    with pytest.raises(OutOfLimitsError, match=r"a = 3.0000 outside \[-1.0000, 1.0000\]"):
        joint_goal(goal, ("a", "b"), [-1.0, -1.0], [1.0, 1.0])
    goal.joint_positions = [0.5, -0.25]
    assert joint_goal(goal, ("a", "b"), [-1.0, -1.0], [1.0, 1.0]).tolist() == [-0.25, 0.5]
    check_duration(MoveArm.Goal(timeout=0.0), 100.0)
    with pytest.raises(Exception, match=r"timeout of 2 s") as caught:
        check_duration(MoveArm.Goal(timeout=2.0), 3.5)
    assert caught.value.code == ErrorCode.TIMEOUT


def test_move_arm_held_box_checks_and_volume() -> None:
    from geometry_msgs.msg import PoseStamped, Vector3

    from maestro_msgs.action import MoveArm
    from maestro_tools.motion.goals import check_goal, held_volume

    target = PoseStamped()
    target.pose.orientation.w = 1.0
    goal = MoveArm.Goal(mode=MoveArm.Goal.POSE, waypoints=[target])
    assert held_volume(goal, holding=False) is None
    assert held_volume(goal, holding=True).pose is None  # no box given: the gripper's own volume
    goal.held_size = Vector3(x=0.15, y=0.15, z=0.06)
    goal.held_pose.position.x = 0.07
    check_goal(goal)
    volume = held_volume(goal, holding=True)
    assert volume.pose[0, 3] == pytest.approx(0.07) and volume.size.tolist() == [0.15, 0.15, 0.06]
    inside = volume.contains(np.array([[0.13, 0.0, 0.0], [0.0, 0.0, 0.0], [0.2, 0.0, 0.0]]))
    assert inside.tolist() == [True, True, False]  # the far rim, the fingers, beyond the box
    assert held_volume(goal, holding=False) is None  # a box for a gripper that holds nothing is ignored
    goal.held_size = Vector3(x=0.15, y=0.0, z=0.06)
    with pytest.raises(InvalidArgumentError, match=r"held_size \[0.15, 0.0, 0.06\] has a zero side"):
        check_goal(goal)
    goal.held_size = Vector3(x=0.6, y=0.1, z=0.1)
    with pytest.raises(
        InvalidArgumentError, match=r"held_size.x = 0.6 m is out of range; valid: \[0, 0.5\] m"
    ):
        check_goal(goal)
    goal.held_size, goal.held_pose.orientation.w = Vector3(x=0.1, y=0.1, z=0.1), 0.0
    with pytest.raises(InvalidArgumentError, match=r"held_pose.orientation"):
        check_goal(goal)


def test_plan_grasp_request_checks() -> None:
    from maestro_msgs.srv import PlanGrasp
    from maestro_tools.grasping.requests import check_request

    check_request(PlanGrasp.Request(label="bowl", max_width=0.05), "base", 0.08)
    for width in (-1.0, 0.2):
        with pytest.raises(OutOfLimitsError, match=r"max_width = .* m is out of range; valid: \[0, 0.08\] m"):
            check_request(PlanGrasp.Request(max_width=width), "base", 0.08)
    with pytest.raises(InvalidArgumentError, match=r"max_width is nan"):
        check_request(PlanGrasp.Request(max_width=math.nan), "base", 0.08)
    with pytest.raises(InvalidArgumentError, match=r"max_grasps = 1000 .* valid: \[0, 100\]"):
        check_request(PlanGrasp.Request(max_grasps=1000), "base", 0.08)
    request = PlanGrasp.Request()
    request.detection.has_3d, request.detection.extent.y = True, -0.1
    with pytest.raises(InvalidArgumentError, match=r"detection.extent.y = -0.1 m is out of range"):
        check_request(request, "base", 0.08)
