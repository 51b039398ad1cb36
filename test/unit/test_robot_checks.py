"""The robot tool's checks without ROS: settled gripper widths, moves that end short, the drop watch.

``RobotDouble`` stands in for the proxy's RosClient (joint states, tcp_pose and action results the test
scripts); the same checks run against the simulator in test/sim/test_grasp_tools.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
from control_msgs.action import GripperCommand
from geometry_msgs.msg import Point, Vector3

from maestro_agent.proxy.arm_checks import name_obstacle, settle
from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.perception import to_detection
from maestro_agent.proxy.robot import SETTLE_S, Robot
from maestro_agent.sandbox import ToolHost
from maestro_msgs.action import MoveArm
from maestro_msgs.msg import Detection as DetectionMsg
from maestro_msgs.srv import Detect
from maestro_tools.common.conversions import matrix_to_pose
from maestro_tools.common.errors import (
    CollisionError,
    GraspFailedError,
    InvalidArgumentError,
    ObjectDroppedError,
    StalledError,
)
from maestro_tools.robots import get_robot

FRANKA = get_robot("franka")
GRIPPER = FRANKA.gripper


def down(x: float, y: float, z: float) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = np.diag([1.0, -1.0, -1.0]), [x, y, z]
    return pose


class RobotDouble:
    """Joint states and tcp_pose as the test sets them; each action goal is answered by ``respond``."""

    def __init__(self) -> None:
        self.arm = np.array(FRANKA.arm.home)
        self.width = 0.08  # what joint states show
        self.tcp = down(0.4, 0.0, 0.3)
        self.respond: Callable[[object, object, Callable | None], object] | None = None

    def joints(self) -> dict[str, float]:
        fingers = dict.fromkeys(GRIPPER.finger_joints, self.width / 2)
        return {**dict(zip(FRANKA.arm.joints, self.arm, strict=True)), **fingers}

    def tcp_pose(self) -> np.ndarray:
        return self.tcp.copy()

    def state_time(self) -> float | None:
        return None  # unstamped: settle() counts in wall time

    def act(
        self, client: object, goal: object, timeout: float, on_feedback: Callable | None = None
    ) -> object:
        assert self.respond is not None, "the test did not script this goal"
        return self.respond(client, goal, on_feedback)


def robot_with(double: RobotDouble, harness: bool = True) -> Robot:
    robot = Robot(None, Harness(FRANKA, enabled=harness))
    robot._ros, robot._move_arm, robot._gripper_action = double, "move_arm", "gripper"
    return robot


def gripper_result(width: float) -> GripperCommand.Result:
    return GripperCommand.Result(position=width / 2)


def arrived(double: RobotDouble, pose: np.ndarray, joints: np.ndarray | None = None) -> MoveArm.Result:
    """A successful MoveArm result ending at ``pose`` (the double's tcp_pose is left as the test set it)."""
    final = double.arm if joints is None else joints
    return MoveArm.Result(success=True, final_pose=matrix_to_pose(pose), final_joint_positions=final.tolist())


def seen(*objects: tuple[str, tuple[float, ...], tuple[float, ...]]) -> Detect.Response:
    """A detector's answer: (label, position, extent) per object, axis-aligned."""
    answer = Detect.Response()
    for label, (x, y, z), (dx, dy, dz) in objects:
        detection = DetectionMsg(label=label, has_3d=True, extent=Vector3(x=dx, y=dy, z=dz))
        detection.pose.position = Point(x=x, y=y, z=z)
        detection.pose.orientation.w = 1.0
        answer.detections.append(detection)
    return answer


def grasp_a_block(double: RobotDouble, robot: Robot, width: float = 0.05) -> None:
    double.width = width
    double.respond = lambda client, goal, feedback: gripper_result(width)
    assert robot.grasp(expected_width=width).holding


def test_gripper_calls_return_once_joint_states_show_the_fingers_stopped() -> None:
    double = RobotDouble()
    robot = robot_with(double)
    answered: list[float] = []

    def close(client, goal, feedback):  # the driver answers before its joint states catch up
        answered.append(time.monotonic())
        return gripper_result(0.0)

    double.respond = close
    original = double.joints

    def lagging() -> dict[str, float]:
        if answered and time.monotonic() - answered[0] > 0.2:
            double.width = 0.0
        return original()

    double.joints = lagging
    state = robot.close_gripper()
    assert state.width == 0.0 and not state.holding
    assert time.monotonic() - answered[0] >= 0.2 and robot.get_state().gripper.width == 0.0
    double.width = 0.08
    double.respond = lambda client, goal, feedback: gripper_result(0.08)
    opened = robot.open_gripper()
    assert opened.width == pytest.approx(0.08) and not opened.holding


def test_joint_states_that_never_agree_leave_the_width_the_action_reported() -> None:
    double = RobotDouble()
    robot = robot_with(double)
    double.respond = lambda client, goal, feedback: gripper_result(0.03)
    started = time.monotonic()
    assert robot.close_gripper().width == pytest.approx(0.03)
    assert SETTLE_S <= time.monotonic() - started < 3 * SETTLE_S


def test_a_close_on_nothing_holds_nothing() -> None:
    double = RobotDouble()
    robot = robot_with(double)
    double.width = 0.0
    double.respond = lambda client, goal, feedback: gripper_result(0.0)
    with pytest.raises(GraspFailedError, match="closed on nothing"):
        robot.grasp()
    assert not robot.close_gripper().holding and robot._held is None


def test_fingers_stopped_short_of_an_opening_hold_nothing() -> None:
    double = RobotDouble()
    robot = robot_with(double)
    double.width = 0.072  # a finger against a wall as the gripper opens to 0.08
    double.respond = lambda client, goal, feedback: gripper_result(0.072)
    assert not robot.open_gripper().holding and not robot.get_state().gripper.holding
    double.width = 0.03  # closing, stopped on something
    double.respond = lambda client, goal, feedback: gripper_result(0.03)
    assert robot.close_gripper().holding and robot.get_state().gripper.holding


def test_a_move_that_comes_to_rest_short_of_its_target_raises_with_the_distance() -> None:
    double = RobotDouble()
    robot = robot_with(double)
    short = down(0.4, 0.0, 0.21)  # 1 cm above the target
    double.tcp = short
    double.respond = lambda client, goal, feedback: arrived(double, short)
    with pytest.raises(StalledError, match=r"ended 1\.0 cm from its target \[0\.4, 0\.0, 0\.2\]"):
        robot.move_gripper_to([0.4, 0.0, 0.2])


def test_a_result_taken_while_the_arm_still_converged_is_judged_where_it_rests() -> None:
    double = RobotDouble()
    robot = robot_with(double)
    double.tcp = down(0.4, 0.0, 0.2)  # tcp_pose: the arm got there after the result was taken
    double.respond = lambda client, goal, feedback: arrived(double, down(0.4, 0.0, 0.21))
    state = robot.move_gripper_to([0.4, 0.0, 0.2])
    assert np.allclose(state.position, [0.4, 0.0, 0.2])


def test_the_result_carries_the_reached_pose() -> None:
    double = RobotDouble()
    robot = robot_with(double)
    reached = down(0.4, 0.0, 0.203)  # within the tolerance; tcp_pose still shows the start
    double.respond = lambda client, goal, feedback: arrived(double, reached, double.arm + 0.001)
    state = robot.move_gripper_to([0.4, 0.0, 0.2])
    assert np.allclose(state.position, [0.4, 0.0, 0.203]) and np.allclose(
        state.joint_positions, double.arm + 0.001
    )


def test_a_joint_goal_the_arm_stops_short_of_raises_naming_the_joint() -> None:
    double = RobotDouble()
    robot = robot_with(double)
    goal = np.array(FRANKA.arm.home)
    double.arm = goal + [0, 0, 0, 0.05, 0, 0, 0]
    double.respond = lambda client, sent, feedback: arrived(double, double.tcp)
    with pytest.raises(StalledError, match=r"panda_joint4 is 0\.050 rad from it"):
        robot.move_home()


def moving(double: RobotDouble, width_midway: float) -> Callable:
    """A motion whose feedback sees the opening change to ``width_midway`` halfway."""

    def respond(client, goal, on_feedback):
        target = goal.waypoints[-1].pose
        for k in range(4):
            if k == 2:
                double.width = width_midway
            if on_feedback is not None:
                on_feedback(MoveArm.Feedback(state=MoveArm.Feedback.MOVING))
        double.tcp[:3, 3] = [target.position.x, target.position.y, target.position.z]
        return arrived(double, double.tcp)

    return respond


@pytest.mark.parametrize(("width", "reason"), [(0.0, "it fell out"), (0.08, "the gripper opened to 80.0 mm")])
def test_an_object_lost_during_a_move_raises_object_dropped(width: float, reason: str) -> None:
    double = RobotDouble()
    robot = robot_with(double)
    grasp_a_block(double, robot)
    double.respond = moving(double, width)
    with pytest.raises(ObjectDroppedError, match=reason) as error:
        robot.move_gripper_by([0.0, 0.0, 0.1])
    assert "the object grasped at [0.4, 0.0, 0.3] was lost during the move" in str(error.value)
    assert isinstance(error.value, GraspFailedError)  # a retry of a missed grasp catches it too
    assert robot._held is None
    double.respond = moving(double, width)
    robot.move_gripper_by([0.0, 0.0, -0.1])  # nothing held any more: nothing to lose


def test_a_drop_says_where_the_object_probably_fell() -> None:
    double = RobotDouble()
    robot = robot_with(double)
    grasp_a_block(double, robot)
    double.respond = moving(double, 0.0)
    answer = seen(
        ("bowl", (0.3, -0.4, 0.03), (0.15, 0.15, 0.06)), ("red block", (0.45, 0.02, 0.025), (0.05,) * 3)
    )
    double.call = lambda client, request, timeout: answer
    robot._detect = "detect"
    with pytest.raises(ObjectDroppedError, match="it fell out") as error:
        robot.move_gripper_by([0.0, 0.0, 0.1])
    assert "the nearest object below where it was lost is the red block at [0.45, 0.02, 0.025]" in str(
        error.value
    )


def test_the_drop_watch_is_the_harness_and_an_open_gripper_ends_it() -> None:
    double = RobotDouble()
    baseline = robot_with(double, harness=False)
    double.width = 0.05
    double.respond = lambda client, goal, feedback: gripper_result(0.05)
    assert baseline.grasp().holding
    double.respond = moving(double, 0.0)
    assert baseline.move_gripper_by([0.0, 0.0, 0.1]).gripper.width == 0.0  # no watch without the harness

    robot = robot_with(double)
    grasp_a_block(double, robot)
    double.respond = lambda client, goal, feedback: gripper_result(0.08)
    double.width = 0.08
    robot.open_gripper()  # released on purpose
    double.respond = moving(double, 0.0)
    robot.move_gripper_by([0.0, 0.0, 0.1])


def test_settle_counts_stillness_in_the_robot_clock() -> None:
    """A sim slower than real time: the state's stamp advances slowly and readings repeat between its
    messages. Counted in that clock, repeats are not rest; the arm is judged where it stops (0.3)."""
    robot_time = [0.0]

    def clock() -> float:
        robot_time[0] += 0.001  # the robot's clock creeps on as messages arrive
        return robot_time[0]

    def read() -> np.ndarray:  # a new reading every 0.05 s of robot time, moving until 0.3
        return np.array([min(0.3, np.floor(robot_time[0] / 0.05) * 0.05)])

    assert settle(read, hold_s=0.1, timeout=2.0, clock=clock)[0] == pytest.approx(0.3)


def test_a_new_trial_forgets_what_the_last_one_held() -> None:
    """The sim resets the scene between trials (the gripper opens): the next trial's first move is no drop."""
    double = RobotDouble()
    robot = robot_with(double)
    grasp_a_block(double, robot)
    ToolHost({"robot": robot}).new_trial()  # what Sandbox.reset() does when a trial starts
    double.width = 0.08
    double.respond = moving(double, 0.08)
    robot.move_gripper_by([0.0, 0.0, 0.1])
    assert robot._held is None


def test_a_grasp_attaches_the_seen_object_between_the_fingers_to_each_move() -> None:
    """The smallest seen box around the fingers is the held object: its box goes with every move, in the
    TCP frame, until the gripper opens; a grasp on no seen object leaves the gripper's volume."""
    double = RobotDouble()
    robot = robot_with(double)
    bowl = ("bowl", (0.47, 0.0, 0.25), (0.15, 0.15, 0.06))  # held at its rim: the TCP at x 0.4
    robot._remember_seen(
        "scene",
        [to_detection(d) for d in seen(bowl, ("plate", (0.45, 0.0, 0.22), (0.3, 0.3, 0.02))).detections],
    )
    inside = ("bowl", (0.45, 0.0, 0.26), (0.1, 0.15, 0.04))  # the hand camera's part of it: grown to both
    robot._remember_seen("wrist", [to_detection(d) for d in seen(inside).detections])
    grasp_a_block(double, robot)
    sent: list[MoveArm.Goal] = []

    def respond(client: object, goal: MoveArm.Goal, feedback: object) -> MoveArm.Result:
        sent.append(goal)
        return arrived(double, double.tcp)

    double.respond = respond
    robot.move_gripper_by([0.0, 0.0, 0.0])
    robot.move_home()
    for goal in sent:  # down(): TCP x is base x, TCP z is base -z
        assert [goal.held_size.x, goal.held_size.y, goal.held_size.z] == pytest.approx([0.15, 0.15, 0.06])
        position = goal.held_pose.position
        assert [position.x, position.y, position.z] == pytest.approx([0.07, 0.0, 0.05])
    double.width = 0.08
    double.respond = lambda client, goal, feedback: gripper_result(0.08)
    robot.open_gripper()
    double.respond = respond
    robot.move_gripper_by([0.0, 0.0, 0.0])
    assert sent[-1].held_size.x == 0.0
    robot._remember_seen(
        "scene", [to_detection(d) for d in seen(("cup", (0.7, 0.3, 0.05), (0.08,) * 3)).detections]
    )
    robot._remember_seen("wrist", [])
    grasp_a_block(double, robot)
    double.respond = respond
    robot.move_gripper_by([0.0, 0.0, 0.0])
    assert sent[-1].held_size.x == 0.0  # nothing seen between the fingers


def test_contact_moves_and_arcs_send_their_fields_and_refuse_bad_limits() -> None:
    double = RobotDouble()
    robot = robot_with(double)
    sent: list[MoveArm.Goal] = []

    def respond(client: object, goal: MoveArm.Goal, feedback: object) -> MoveArm.Result:
        sent.append(goal)
        end = goal.waypoints[-1].pose
        double.tcp = down(end.position.x, end.position.y, end.position.z)
        return arrived(double, double.tcp)

    double.respond = respond
    robot.move_gripper_along([([0.4, 0.0, 0.2], None), ([0.4, 0.1, 0.2], None)], contact=True, max_depth=0.02)
    assert sent[-1].contact and sent[-1].max_depth == pytest.approx(0.02)
    assert sent[-1].path == MoveArm.Goal.PATH_CARTESIAN and len(sent[-1].waypoints) == 2
    robot.move_gripper_to([0.4, 0.0, 0.25])
    assert not sent[-1].contact and sent[-1].max_depth == 0.0
    from maestro_tools.motion.goals import check_goal

    check_goal(sent[-1])  # the node accepts what the proxy sent
    robot.move_gripper_to([0.4, 0.0, 0.2], contact=True, max_depth=0.05)
    sent[-1].max_depth = float(np.float32(sent[-1].max_depth))  # as the node receives the float32 field
    check_goal(sent[-1])  # the deepest allowed
    with pytest.raises(InvalidArgumentError, match=r"max_depth must be in \[0, 0\.05\] m"):
        robot.move_gripper_to([0.4, 0.0, 0.2], contact=True, max_depth=0.2)
    with pytest.raises(InvalidArgumentError, match="pass contact=True"):
        robot.move_gripper_by([0.0, 0.0, -0.01], max_depth=0.01)

    double.tcp = down(0.4, -0.1, 0.2)
    robot.move_gripper_arc([0.5, 0.0, 0.2], [0, 0, 1], 90.0)  # a quarter turn: every 5 degrees
    goal = sent[-1]
    assert goal.mode == MoveArm.Goal.WAYPOINTS and len(goal.waypoints) == 18 and goal.contact
    end = goal.waypoints[-1].pose.position
    assert np.allclose([end.x, end.y, end.z], [0.6, -0.1, 0.2], atol=1e-9)  # counterclockwise about z
    with pytest.raises(InvalidArgumentError, match="degrees must be in"):
        robot.move_gripper_arc([0.5, 0.0, 0.2], [0, 0, 1], 0.0)
    with pytest.raises(InvalidArgumentError, match="axis must not be zero"):
        robot.move_gripper_arc([0.5, 0.0, 0.2], [0, 0, 0], 30.0)


def test_a_refused_path_names_the_detected_object_it_would_hit() -> None:
    double = RobotDouble()
    robot = robot_with(double)
    refusal = (
        "the straight line to [0.45, 0.0, 0.05] is blocked 40% of the way (8.0 of 20.0 cm), with the gripper "
        "at [0.45, 0.08, 0.05]: the robot's panda_leftfinger would come within 1.5 cm of a seen object at "
        "[0.452, 0.051, 0.03]; try path 'auto' or 'planned'"
    )
    double.respond = lambda client, goal, feedback: MoveArm.Result(error_code=5, message=refusal)
    can = seen(
        ("bowl", (0.3, -0.3, 0.03), (0.15, 0.15, 0.06)), ("green can", (0.45, 0.05, 0.05), (0.06, 0.06, 0.1))
    )
    double.call = lambda client, request, timeout: can
    robot._detect = "detect"
    with pytest.raises(CollisionError) as refused:
        robot.move_gripper_to([0.45, 0.0, 0.05], path="line")
    assert "of the green can (seen at [0.452, 0.051, 0.03])" in str(refused.value)
    assert "40% of the way (8.0 of 20.0 cm)" in str(refused.value)
    assert name_obstacle(refusal, []) == refusal  # nothing detected there: the point alone
