"""nav2_adapter against a FAKE nav2: Maestro's navigate action forwarded to NavigateToPose.

``FakeNav2`` below is not nav2: it serves nav2_msgs/NavigateToPose as each test scripts it (succeed
with feedback, abort with a nav2 error code, or run until cancelled) and records the goals and
cancels it gets. It checks the adapter's side of the contract (goal, feedback, result and error
mapping, cancel, preemption, nav2 absent); real nav2 (planning, control, its lifecycle) is not tested.
One in-process graph per test, ~1 s each.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import rclpy
from action_msgs.msg import GoalStatus
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, PoseStamped, Quaternion, Twist
from nav2_msgs.action import NavigateToPose
from rclpy.action import ActionClient, ActionServer, CancelResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Header

from maestro_agent.bringup.launcher import spec_for
from maestro_agent.bringup.paths import share_dir
from maestro_agent.bringup.spec import resolve
from maestro_msgs.action import NavigateBase
from maestro_tools.common.errors import ErrorCode
from maestro_tools.common.spinning import BackgroundSpinner
from maestro_tools.common.teardown import close_context, destroy_node
from maestro_tools.navigation.nav2_adapter import Nav2AdapterNode, nav2_error
from test.ros.helpers import goal_outcome, send_goal, unique, wait_for

YAW = 0.5
SUCCEED, RUN = "succeed", "run"  # FakeNav2 behaviours; "abort:<code>:<message>" aborts


def quaternion(yaw: float) -> Quaternion:
    return Quaternion(z=math.sin(yaw / 2), w=math.cos(yaw / 2))


class FakeNav2(Node):
    """A FAKE nav2 bt_navigator: NavigateToPose served as scripted per goal x (no planning, no motion)."""

    def __init__(self, context: Context, action: str) -> None:
        super().__init__(unique("fake_nav2"), context=context)
        self.behaviour: dict[float, str] = {}  # goal x -> SUCCEED, RUN or "abort:<code>:<message>"
        self.goals: list[tuple[float, NavigateToPose.Goal]] = []  # (monotonic time, goal)
        self.cancels: list[tuple[float, float]] = []  # (monotonic time, goal x)
        ActionServer(
            self,
            NavigateToPose,
            action,
            self.execute,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(),
        )

    @staticmethod
    def feedback(goal: NavigateToPose.Goal, recoveries: int) -> NavigateToPose.Feedback:
        """0.1 m short of the goal, 0.8 m to go along the path, 1.5 s into the goal."""
        here = goal.pose.pose
        return NavigateToPose.Feedback(
            current_pose=PoseStamped(
                header=Header(frame_id="map"),
                pose=Pose(
                    position=Point(x=here.position.x - 0.1, y=here.position.y), orientation=here.orientation
                ),
            ),
            navigation_time=Duration(sec=1, nanosec=500_000_000),
            distance_remaining=0.8,
            number_of_recoveries=recoveries,
        )

    def execute(self, handle) -> NavigateToPose.Result:
        goal = handle.request
        x = goal.pose.pose.position.x
        self.goals.append((time.monotonic(), goal))
        mode = self.behaviour.get(x, RUN)
        if mode == SUCCEED:
            for recoveries in (0, 1):
                handle.publish_feedback(self.feedback(goal, recoveries))
                time.sleep(0.15)
            handle.succeed()
            return NavigateToPose.Result()
        if mode.startswith("abort:"):
            _, code, message = mode.split(":", 2)
            handle.abort()
            return NavigateToPose.Result(error_code=int(code), error_msg=message)
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            if handle.is_cancel_requested:
                self.cancels.append((time.monotonic(), x))
                handle.canceled()
                return NavigateToPose.Result()
            handle.publish_feedback(self.feedback(goal, 0))
            time.sleep(0.05)
        handle.abort()
        return NavigateToPose.Result()


@dataclass
class Graph:
    adapter: Nav2AdapterNode
    nav2: FakeNav2
    client: ActionClient
    stops: list[Twist]


@contextmanager
def graph(*, with_nav2: bool = True, **parameters: object) -> Iterator[Graph]:
    """The adapter, a FakeNav2 (unless ``with_nav2`` is False) and a navigate client, in a fresh context."""
    context, ns, action = Context(), f"/{unique('nav2_test')}", f"/{unique('navigate_to_pose')}"
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(num_threads=8, context=context)  # goals block threads while they run
    overrides = [Parameter(k, value=v) for k, v in {"nav2_action": action, **parameters}.items()]
    adapter = Nav2AdapterNode(namespace=ns, context=context, parameter_overrides=overrides)
    nav2 = FakeNav2(context, action if with_nav2 else f"{action}_elsewhere")
    user = Node(unique("navigate_user"), context=context)
    stops: list[Twist] = []
    user.create_subscription(Twist, f"{ns}/cmd_vel", stops.append, 10)
    client = ActionClient(user, NavigateBase, f"{ns}/navigate")
    nodes = (adapter, nav2, user)
    for node in nodes:
        executor.add_node(node)
    spinner = BackgroundSpinner(executor).start()
    try:
        yield Graph(adapter, nav2, client, stops)
    finally:
        adapter.close()  # running goals cancel their nav2 goals and end
        time.sleep(0.3)
        spinner.stop()
        for node in nodes:
            destroy_node(node)  # with its action servers and clients, now that nothing spins
        close_context(context)


def goal(x: float, frame: str = "", **fields: object) -> NavigateBase.Goal:
    pose = PoseStamped(
        header=Header(frame_id=frame), pose=Pose(position=Point(x=x, y=1.0), orientation=quaternion(YAW))
    )
    return NavigateBase.Goal(goal=pose, **fields)


def test_success_forwards_the_goal_and_maps_feedback_and_result() -> None:
    with graph() as g:
        g.nav2.behaviour[2.0] = SUCCEED
        feedback: list = []
        status, result = goal_outcome(send_goal(g.client, goal(2.0), feedback), timeout=10)
        assert status == GoalStatus.STATUS_SUCCEEDED, result.message
        assert (result.success, result.error_code) == (True, ErrorCode.OK)
        sent = g.nav2.goals[0][1]
        assert sent.pose.header.frame_id == "map" and sent.behavior_tree == ""  # empty frame = map
        assert (sent.pose.pose.position.x, sent.pose.pose.position.y) == pytest.approx((2.0, 1.0))
        assert 2 * math.atan2(sent.pose.pose.orientation.z, sent.pose.pose.orientation.w) == pytest.approx(
            YAW
        )
        assert wait_for(lambda: len(feedback) >= 2, 5)
        first, second = feedback[0].feedback, feedback[-1].feedback
        assert first.state == NavigateBase.Feedback.DRIVING and first.number_of_recoveries == 0
        assert second.state == NavigateBase.Feedback.RECOVERING and second.number_of_recoveries == 1
        assert second.distance_remaining == pytest.approx(0.8)
        assert second.navigation_time == pytest.approx(1.5)
        assert second.current_pose.position.x == pytest.approx(1.9)
        assert result.final_pose.position.x == pytest.approx(1.9) and result.number_of_recoveries == 1
        assert result.position_error == pytest.approx(0.1, abs=1e-6) and result.yaw_error == pytest.approx(
            0.0
        )
        assert result.navigation_time > 0.2 and "arrived" in result.message


@pytest.mark.parametrize(
    ("nav2_code", "code", "name"),
    [
        (208, ErrorCode.UNREACHABLE, "ComputePathToPose NO_VALID_PATH (208)"),
        (105, ErrorCode.STALLED, "FollowPath FAILED_TO_MAKE_PROGRESS (105)"),
        (202, ErrorCode.NO_DATA, "ComputePathToPose TF_ERROR (202)"),
        (0, ErrorCode.BACKEND_ERROR, "no error code"),
        (731, ErrorCode.BACKEND_ERROR, "error code 731"),
    ],
)
def test_nav2_error_codes_become_maestro_errors(nav2_code: int, code: ErrorCode, name: str) -> None:
    error = nav2_error(nav2_code, "why")
    assert error.code == code and str(error) == f"nav2 aborted the goal: {name}: why"


def test_an_abort_maps_nav2s_error_code() -> None:
    with graph() as g:
        g.nav2.behaviour[3.0] = "abort:208:GridBased: no valid path found"
        status, result = goal_outcome(send_goal(g.client, goal(3.0)), timeout=10)
        assert status == GoalStatus.STATUS_ABORTED and not result.success
        assert result.error_code == ErrorCode.UNREACHABLE
        assert "NO_VALID_PATH (208)" in result.message and "no valid path found" in result.message


def test_cancel_is_forwarded_to_nav2_and_stops_the_base() -> None:
    with graph() as g:
        feedback: list = []
        handle = send_goal(g.client, goal(4.0), feedback)
        assert wait_for(lambda: feedback, 5), "no feedback forwarded from the running nav2 goal"
        handle.cancel_goal_async()
        status, result = goal_outcome(handle, timeout=10)
        assert status == GoalStatus.STATUS_CANCELED and result.error_code == ErrorCode.CANCELED
        assert [x for _, x in g.nav2.cancels] == [4.0]
        assert wait_for(lambda: g.stops, 5) and g.stops[-1] == Twist()
        assert result.final_pose.position.x == pytest.approx(3.9)


def test_a_newer_goal_cancels_the_older_nav2_goal_first() -> None:
    with graph() as g:
        g.nav2.behaviour[6.0] = SUCCEED
        first = send_goal(g.client, goal(5.0))
        assert wait_for(lambda: g.nav2.goals, 5)
        second = send_goal(g.client, goal(6.0))
        status, result = goal_outcome(first, timeout=10)
        assert status == GoalStatus.STATUS_ABORTED and result.error_code == ErrorCode.PREEMPTED
        status, result = goal_outcome(second, timeout=10)
        assert status == GoalStatus.STATUS_SUCCEEDED, result.message
        (cancelled_at, cancelled), (sent_at, sent) = g.nav2.cancels[0], g.nav2.goals[1]
        assert cancelled == 5.0 and sent.pose.pose.position.x == 6.0 and cancelled_at <= sent_at


def test_a_goal_past_its_timeout_cancels_nav2s() -> None:
    with graph() as g:
        status, result = goal_outcome(send_goal(g.client, goal(7.0, timeout=1.0)), timeout=10)
        assert status == GoalStatus.STATUS_ABORTED and result.error_code == ErrorCode.TIMEOUT
        assert [x for _, x in g.nav2.cancels] == [7.0]


def test_what_nav2_cannot_serve_is_refused_before_nav2_hears_of_it() -> None:
    with graph(tf_timeout=0.3) as g:
        for fields, word in (({"behavior": "push"}, "push"), ({"max_speed": 0.25}, "max_speed")):
            _, result = goal_outcome(send_goal(g.client, goal(8.0, **fields)), timeout=10)
            assert result.error_code == ErrorCode.INVALID_ARGUMENT and word in result.message
            assert "navigation:=maestro" in result.message
        _, result = goal_outcome(send_goal(g.client, goal(8.0, frame="nowhere")), timeout=10)
        assert result.error_code == ErrorCode.NOT_FOUND and "nowhere" in result.message
        assert not g.nav2.goals


def test_nav2_absent_is_a_clear_error() -> None:
    with graph(with_nav2=False, server_timeout=0.5, tf_timeout=0.2) as g:
        started = time.monotonic()
        status, result = goal_outcome(send_goal(g.client, goal(9.0)), timeout=10)
        assert status == GoalStatus.STATUS_ABORTED and result.error_code == ErrorCode.UNAVAILABLE
        action = g.adapter.get_parameter("nav2_action").value
        assert f"NavigateToPose action server {action} is not available" in result.message
        assert "nav2_bringup navigation_launch.py" in result.message and time.monotonic() - started < 5


@pytest.mark.parametrize(("navigation", "node"), [("maestro", "navigation"), ("nav2", "nav2_adapter")])
def test_the_bringup_starts_one_navigate_server(navigation: str, node: str) -> None:
    names = {
        n.name: n.executable for n in resolve(spec_for("go2w_piper"), {"navigation": navigation}, share_dir())
    }
    assert node in names and not {"navigation", "nav2_adapter"} - {node} & names.keys()
    assert names[node] == {"navigation": "navigation_node", "nav2_adapter": "nav2_adapter_node"}[node]
