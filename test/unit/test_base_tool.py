"""The ``base`` tool without ROS: its navigate goals, go_near's base pose, search's viewpoints, the gate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from control_msgs.action import FollowJointTrajectory
from nav_msgs.msg import OccupancyGrid as GridMessage
from trajectory_msgs.msg import JointTrajectoryPoint

from maestro_agent.proxy.base import BODY_ACTION, POSTURE_PITCH_TOLERANCE, Base
from maestro_agent.proxy.base_reach import approaches
from maestro_agent.proxy.docs import describe_tools
from maestro_agent.proxy.gate import ActuationGate
from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.session import tools
from maestro_agent.proxy.types import VALUE_TYPES, BasePose, MappedObject
from maestro_msgs.action import NavigateBase
from maestro_tools.common.errors import (
    ErrorCode,
    InvalidArgumentError,
    MaestroTimeoutError,
    NotFoundError,
    OutOfLimitsError,
    StalledError,
)
from maestro_tools.motion.base_geometry import BasePose as PlanPose
from maestro_tools.navigation.messages import grid_clearance
from maestro_tools.robots import get_robot

GO2W = get_robot("go2w_piper")


def _yaw(q: object) -> float:
    return 2 * math.atan2(q.z, q.w)  # type: ignore[attr-defined]


class FakeNavigation:
    """A test fake of the robot behind the proxy's RosClient: navigate goals move the base there at once,
    except to the ``blocked`` points, which fail as the navigation node does."""

    def __init__(
        self, blocked: tuple[tuple[float, float], ...] = (), short: float = 0.0, times_out: bool = False
    ) -> None:
        self.pose = np.eye(4)
        self.short = short  # m the first goal is stopped short of (as a goal moved off an obstacle is)
        self.times_out = times_out  # the first goal ends there timed out (still turning, say)
        self.goals: list[NavigateBase.Goal] = []
        self.body: list[tuple[float, ...]] = []  # body postures commanded (height, pitch)
        self.body_tolerances: list[dict[str, float]] = []  # and their goal tolerances by joint
        self.blocked = blocked
        self.grid: object = None  # the latest navigation/grid message

    def latest(self, msg_type: object, topic: str) -> object:
        assert topic == "navigation/grid"
        return lambda: self.grid

    def action(self, action_type: object, name: str) -> str:
        assert (action_type, name) in ((NavigateBase, "navigate"), (FollowJointTrajectory, BODY_ACTION))
        return name

    def transform(self, target: str, source: str, timeout: float = 2.0) -> np.ndarray:
        assert (target, source) == ("map", "base_link")
        return self.pose.copy()

    def act(self, client: str, goal: object, timeout: float) -> object:
        if client == BODY_ACTION:
            self.body.append(tuple(goal.trajectory.points[-1].positions))  # type: ignore[attr-defined]
            self.body_tolerances.append({t.name: t.position for t in goal.goal_tolerance})  # type: ignore[attr-defined]
            return FollowJointTrajectory.Result(error_code=FollowJointTrajectory.Result.SUCCESSFUL)
        assert isinstance(goal, NavigateBase.Goal)
        self.goals.append(goal)
        p = goal.goal.pose.position
        if any(math.hypot(p.x - x, p.y - y) < 0.05 for x, y in self.blocked):
            return NavigateBase.Result(
                success=False, error_code=ErrorCode.STALLED, message="blocked by a sofa"
            )
        if self.short:
            back = np.array([self.pose[0, 3] - p.x, self.pose[1, 3] - p.y])
            p = type(p)(x=p.x, y=p.y)
            p.x, p.y = np.array([p.x, p.y]) + self.short * back / max(float(np.linalg.norm(back)), 1e-9)
            self.short = 0.0
        yaw = _yaw(goal.goal.pose.orientation) if goal.yaw_tolerance >= 0 else 0.0
        self.pose[:3, :3] = [[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]]
        self.pose[:2, 3] = p.x, p.y
        if self.times_out:
            self.times_out = False
            return NavigateBase.Result(
                success=False, error_code=ErrorCode.TIMEOUT, message="timed out 0.06 m from the goal"
            )
        result = NavigateBase.Result(success=True)
        result.final_pose.position.x, result.final_pose.position.y = p.x, p.y
        result.final_pose.orientation = goal.goal.pose.orientation
        return result


class FakeSeeing:
    """Test fakes of perception and the semantic map: the ball is seen from ``ball_from``."""

    def __init__(self, nav: FakeNavigation, ball_from: tuple[float, float] | None) -> None:
        self.nav, self.ball_from, self.seen, self.looks = nav, ball_from, False, 0
        self.asked: list[list[str] | None] = []

    def detect(self, labels: list[str] | None, camera: str = "") -> list[object]:
        self.looks += 1
        self.asked.append(labels)
        here = self.nav.pose[:2, 3]
        if self.ball_from is not None and np.allclose(here, self.ball_from, atol=1e-6):
            self.seen = True
            return []
        raise NotFoundError("nothing visible")

    def _find_in(self, label: str, frame: str) -> list[MappedObject]:
        assert frame == "map"
        if not self.seen:
            raise NotFoundError(f"no object with label {label!r}")
        return [
            MappedObject(
                "obj1", label, np.array([3.0, 1.0, 0.05]), np.ones(3) * 0.1, np.eye(3), 0.9, 2, 0.0, "head"
            )
        ]


def test_go_to_sends_a_map_goal_and_returns_the_pose_reached() -> None:
    nav = FakeNavigation()
    base = Base(nav, Harness(GO2W))  # type: ignore[arg-type]
    reached = base.go_to(1.5, -0.5, math.pi / 2)
    goal = nav.goals[-1]
    assert goal.goal.header.frame_id == "map" and goal.yaw_tolerance == 0.0
    assert (reached.x, reached.y) == pytest.approx((1.5, -0.5)) and reached.yaw == pytest.approx(math.pi / 2)
    base.go_to(2.0, 0.0)  # any heading
    assert nav.goals[-1].yaw_tolerance < 0 and nav.goals[-1].behavior == ""
    base.go_to(2.0, 0.0, push=True)  # straight through what is ahead
    assert nav.goals[-1].behavior == "push"
    with pytest.raises(InvalidArgumentError, match="push must be True or False; got 'yes'"):
        base.go_to(2.0, 0.0, push="yes")  # type: ignore[arg-type]
    assert base.get_pose() == BasePose(2.0, 0.0, 0.0)
    with pytest.raises(InvalidArgumentError, match="x must be a finite number"):
        base.go_to(float("nan"), 0.0)
    with pytest.raises(InvalidArgumentError, match=r"tolerance must be 0\.02\.\.1 m"):
        base.go_to(1.0, 0.0, tolerance=5.0)
    nav.blocked = ((4.0, 4.0),)
    with pytest.raises(StalledError, match="blocked by a sofa"):
        base.go_to(4.0, 4.0)


def test_go_near_stands_off_facing_the_target() -> None:
    nav = FakeNavigation()
    base = Base(nav, Harness(GO2W))  # type: ignore[arg-type]
    reached = base.go_near([3.0, 0.0, 0.05], standoff=1.0)
    assert (reached.x, reached.y, reached.yaw) == pytest.approx((2.0, 0.0, 0.0))
    with pytest.raises(InvalidArgumentError, match=r"standoff must be 0\.2\.\.5 m"):
        base.go_near([3.0, 0.0, 0.05], standoff=0.0)
    with pytest.raises(InvalidArgumentError, match="a label or a point"):
        base.go_near([1.0])


def test_go_near_by_reachability_puts_the_object_within_the_arms_reach() -> None:
    nav = FakeNavigation()
    base = Base(nav, Harness(GO2W))  # type: ignore[arg-type]
    target = np.array([2.0, 1.0, 0.66])  # a toy on a table (the floor needs a crouch: not built)
    reached = base.go_near(target)
    distance = math.hypot(target[0] - reached.x, target[1] - reached.y)
    assert 0.2 < distance < GO2W.arm.reach + 0.1, distance
    facing = math.atan2(target[1] - reached.y, target[0] - reached.x)
    assert abs(math.remainder(facing - reached.yaw, 2 * math.pi)) < math.radians(60)


def test_go_near_a_floor_toy_drives_standing_then_lowers_the_body() -> None:
    nav = FakeNavigation()
    base = Base(nav, Harness(GO2W))  # type: ignore[arg-type]
    reached = base.go_near([2.0, -0.4, 0.04])  # a toy on the floor: the stand cannot reach it
    assert nav.body[0] == (0.0, 0.0) and nav.body[-1][0] == pytest.approx(GO2W.base.min_height_offset)
    assert math.hypot(2.0 - reached.x, -0.4 - reached.y) < GO2W.arm.reach
    # the crouch, and the stand before the drive, count as reached a few degrees off (the arm re-solves
    # from the measured pose; a wheel on a toy leaned the body 1.2 deg and the stand failed go_near)
    assert nav.body_tolerances[0] == nav.body_tolerances[-1] == {"body_pitch": POSTURE_PITCH_TOLERANCE}
    base.set_body()
    assert nav.body[-1] == (0.0, 0.0) and nav.body_tolerances[-1] == {}  # the controller's defaults
    with pytest.raises(OutOfLimitsError, match=r"body_height = -0\.500 m is out of range"):
        base.set_body(-0.5)
    franka_base = Base(nav, Harness(get_robot("franka")))  # type: ignore[arg-type]
    with pytest.raises(Exception, match="cannot lower or pitch its body"):
        franka_base.set_body(-0.1)


def test_search_looks_here_then_from_reachable_viewpoints() -> None:
    nav = FakeNavigation(blocked=((1.0, 1.0),))
    seeing = FakeSeeing(nav, ball_from=(2.0, 0.0))
    base = Base(nav, Harness(GO2W), seeing, seeing)  # type: ignore[arg-type]
    found = base.search("orange ball", viewpoints=[(1.0, 1.0), (2.0, 0.0), (5.0, 5.0)])
    assert found.label == "orange ball" and np.allclose(found.position, [3.0, 1.0, 0.05])
    visited = [(g.goal.pose.position.x, g.goal.pose.position.y) for g in nav.goals if g.yaw_tolerance < 0]
    assert visited == [(1.0, 1.0), (2.0, 0.0)]  # the blocked one was tried and skipped; (5, 5) not needed
    assert seeing.asked[:6] == [["orange ball"]] * 6  # looked around here first
    # at (2, 0) seen at the first heading: no more turns, and everything in view mapped there
    assert seeing.asked[-2:] == [["orange ball"], None] and nav.goals[-1].yaw_tolerance < 0
    nowhere = Base(nav, Harness(GO2W), FakeSeeing(nav, None), FakeSeeing(nav, None))  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match=r"not seen from 2 places; unreachable: \(1.0, 1.0\)"):
        nowhere.search("orange ball", viewpoints=[(1.0, 1.0), (2.0, 0.0)])


def test_the_tool_exists_only_for_robots_with_a_base_and_is_documented() -> None:
    assert "base" in tools(None, Harness(GO2W)) and "base" not in tools(None, Harness(get_robot("franka")))
    docs = describe_tools("go2w_piper")
    assert "base.go_near(target: str | Sequence[float]" in docs and "BasePose(x: float" in docs
    assert (
        VALUE_TYPES["BasePose"] is BasePose
        and str(BasePose(1, 2, math.pi)) == "BasePose(x=1.000, y=2.000, yaw_deg=180.0, height=0.000)"
    )


def test_the_gate_admits_base_goals_in_the_map_only() -> None:
    gate = ActuationGate(GO2W, ((), ()), allowed=("navigate",))
    goal = NavigateBase.Goal()
    goal.goal.header.frame_id, goal.goal.pose.orientation.w = "map", 1.0
    assert gate.admit(goal) is goal
    goal.goal.header.frame_id = "base_link"
    with pytest.raises(InvalidArgumentError, match="in frame 'base_link'; the tools send them in 'map'"):
        gate.admit(goal)
    goal.goal.header.frame_id, goal.goal.pose.position.x = "map", float("inf")
    with pytest.raises(InvalidArgumentError, match="must be finite"):
        gate.admit(goal)
    franka = ActuationGate(get_robot("franka"), ((), ()), allowed=("navigate",))
    with pytest.raises(InvalidArgumentError, match="no mobile base"):
        franka.admit(NavigateBase.Goal())
    with pytest.raises(OutOfLimitsError, match="may not call 'cmd_vel'"):
        gate.allow("cmd_vel")
    body = FollowJointTrajectory.Goal()
    body.trajectory.joint_names = ["body_height", "body_pitch"]
    body.trajectory.points = [JointTrajectoryPoint(positions=[-0.1, 0.2])]
    assert gate.admit(body) is body
    body.trajectory.points = [JointTrajectoryPoint(positions=[-0.1, 0.9])]
    with pytest.raises(OutOfLimitsError, match=r"body_pitch = 0\.900 rad is out of range"):
        gate.admit(body)
    body.trajectory.joint_names = ["piper_joint1", "piper_joint2"]
    with pytest.raises(InvalidArgumentError, match="tool trajectories move only the body"):
        gate.admit(body)


class FakeMap:
    """A test fake of the semantic map: a white table (map frame) with a toy on it, and a small box."""

    TABLE = MappedObject(
        "t1",
        "white table",
        np.array([2.6, 1.3, 0.31]),
        np.array([1.2, 0.7, 0.62]),
        np.eye(3),
        0.9,
        5,
        0,
        "head",
    )
    TOY = MappedObject(
        "b1", "green ball", np.array([2.35, 1.18, 0.66]), np.ones(3) * 0.07, np.eye(3), 0.9, 3, 0, "wrist"
    )

    def _remembered_in(self, frame: str) -> list[MappedObject]:
        assert frame == "map"
        return [self.TABLE, self.TOY]

    def _find_in(self, label: str, frame: str) -> list[MappedObject]:
        found = [o for o in self._remembered_in(frame) if o.label == label]
        if not found:
            raise NotFoundError(f"no object with label {label!r}; known: white table, green ball")
        return found


def test_go_near_keeps_the_base_clear_of_the_furniture_the_map_remembers() -> None:
    nav = FakeNavigation()
    nav.pose[:2, 3] = 1.9, 0.6  # beside the table's corner, as the house task starts
    blind = Base(nav, Harness(GO2W))  # type: ignore[arg-type]  # no map: nothing to keep clear of
    plain = blind.go_near(FakeMap.TOY.position)
    nav.pose[:3, :3], nav.pose[:2, 3] = np.eye(3), (1.9, 0.6)
    base = Base(nav, Harness(GO2W), None, FakeMap())  # type: ignore[arg-type]
    reached = base.go_near("green ball")
    (reach,) = base._reacher._models.values()  # the model with the table's box: its footprint check judges
    assert reach.base_blocked(PlanPose(plain.x, plain.y, plain.yaw)) == "white table"  # in the table
    assert not reach.base_blocked(PlanPose(reached.x, reached.y, reached.yaw))
    assert math.hypot(2.35 - reached.x, 1.18 - reached.y) < GO2W.arm.reach
    named = base.go_near("green ball", avoid=["white table"])  # the same box, named: the model is reused
    assert not reach.base_blocked(PlanPose(named.x, named.y, named.yaw)) and len(base._reacher._models) == 1
    with pytest.raises(InvalidArgumentError, match="avoid must be a list of labels"):
        base.go_near("green ball", avoid="white table")
    with pytest.raises(NotFoundError, match="known: white table"):
        base.go_near("green ball", avoid=["sofa"])


def test_go_near_reaches_a_toy_by_the_far_edge_from_another_side() -> None:
    nav = FakeNavigation()
    nav.pose[:2, 3] = 1.9, 0.6  # south-west of the table; the toy lies 0.1 m from its north edge
    far_toy = MappedObject(
        "b2", "blue ball", np.array([2.6, 1.55, 0.66]), np.ones(3) * 0.07, np.eye(3), 0.9, 3, 0, "wrist"
    )

    class FarMap(FakeMap):
        def _remembered_in(self, frame: str) -> list[MappedObject]:
            return [self.TABLE, far_toy]

    base = Base(nav, Harness(GO2W), None, FarMap())  # type: ignore[arg-type]
    reached = base.go_near("blue ball")
    (reach,) = base._reacher._models.values()
    assert not reach.base_blocked(PlanPose(reached.x, reached.y, reached.yaw))
    assert reached.y > 1.65  # it stands north of the table
    assert math.hypot(2.6 - reached.x, 1.55 - reached.y) < GO2W.arm.reach


def test_go_near_keeps_clear_of_a_table_the_map_holds_as_two_parts() -> None:
    nav = FakeNavigation()
    nav.pose[:2, 3] = 1.9, 0.6
    table = FakeMap.TABLE
    west, east = (
        MappedObject(
            f"t{k}",
            table.label,
            table.position + [dx, 0, 0],
            table.extent * [0.5, 1, 1],
            np.eye(3),
            0.9,
            2,
            0,
            "head",
        )
        for k, dx in ((1, -0.3), (2, 0.3))
    )

    class SplitMap(FakeMap):
        def _remembered_in(self, frame: str) -> list[MappedObject]:
            return [west, east, self.TOY]

    base = Base(nav, Harness(GO2W), None, SplitMap())  # type: ignore[arg-type]
    reached = base.go_near("green ball")
    (reach,) = base._reacher._models.values()
    assert [b.name for b in reach.keep_out] == ["white table", "white table #2"]
    assert not reach.base_blocked(PlanPose(reached.x, reached.y, reached.yaw))


def _grid_with_a_wall(y_wall: float) -> GridMessage:
    """A navigation grid (0.1 m cells over x, y in -5..5) occupied along y = ``y_wall``."""
    message = GridMessage()
    message.header.frame_id = "map"
    message.info.resolution, message.info.width, message.info.height = 0.1, 100, 100
    message.info.origin.position.x = message.info.origin.position.y = -5.0
    cells = np.zeros((100, 100), dtype=np.int8)  # [ix, iy]
    cells[:, int((y_wall + 5.0) / 0.1)] = 100
    message.data = cells.T.ravel().tolist()
    return message


def test_go_near_stands_where_the_navigation_grid_lets_the_base_stop() -> None:
    toy = [2.0, -0.45, 0.04]  # on the floor, 0.2 m from a wall the cameras saw (y = -0.65)
    nav = FakeNavigation()
    nav.pose[:2, 3] = 4.0, -0.45  # east of it, along the wall
    blind = Base(nav, Harness(GO2W)).go_near(toy)  # type: ignore[arg-type]  # no grid yet
    nav.pose[:3, :3], nav.pose[:2, 3] = np.eye(3), (4.0, -0.45)
    nav.grid = _grid_with_a_wall(-0.65)
    clearance = grid_clearance(nav.grid)
    needed = GO2W.base.inscribed + 0.05  # the navigation's lethal radius (inflation margin 0.05)
    assert clearance(blind.x, blind.y) < needed  # the navigation would have moved that goal
    reached = Base(nav, Harness(GO2W)).go_near(toy)  # type: ignore[arg-type]
    assert clearance(reached.x, reached.y) >= needed
    assert math.hypot(toy[0] - reached.x, toy[1] - reached.y) < GO2W.arm.reach


def test_go_near_drives_again_when_the_arm_misses_from_where_the_base_stopped() -> None:
    nav = FakeNavigation(short=0.18)  # the first drive stops 0.18 m short
    reached = Base(nav, Harness(GO2W)).go_near([2.0, -0.4, 0.04])  # type: ignore[arg-type]
    drives = [g for g in nav.goals if g.yaw_tolerance >= 0]
    assert len(drives) == 2 and drives[1].position_tolerance == pytest.approx(0.03)
    assert (drives[1].goal.pose.position.x, drives[1].goal.pose.position.y) == pytest.approx(
        (drives[0].goal.pose.position.x, drives[0].goal.pose.position.y)
    )
    assert math.hypot(2.0 - reached.x, -0.4 - reached.y) < GO2W.arm.reach
    for short in (0.01, 0.4):  # the arm still reaches; a goal moved far off: no second drive either way
        near = FakeNavigation(short=short)
        Base(near, Harness(GO2W)).go_near([2.0, -0.4, 0.04])  # type: ignore[arg-type]
        assert len([g for g in near.goals if g.yaw_tolerance >= 0]) == 1


def test_go_near_goes_on_from_a_drive_that_timed_out_near_its_goal() -> None:
    """Timed out still turning or edging in beside furniture, near the goal: go_near crouches there (the
    arm judges what is left); a drive that timed out far from it is raised."""
    nav = FakeNavigation(short=0.06, times_out=True)
    reached = Base(nav, Harness(GO2W)).go_near([2.0, -0.4, 0.04])  # type: ignore[arg-type]
    assert math.hypot(2.0 - reached.x, -0.4 - reached.y) < GO2W.arm.reach
    assert nav.body[-1][0] == pytest.approx(GO2W.base.min_height_offset)  # crouched for the floor toy
    far = FakeNavigation(short=0.5, times_out=True)
    with pytest.raises(MaestroTimeoutError, match="timed out"):
        Base(far, Harness(GO2W)).go_near([2.0, -0.4, 0.04])  # type: ignore[arg-type]


def test_a_toy_in_a_gap_is_approached_along_it_not_over_what_walls_it_in() -> None:
    message = _grid_with_a_wall(-2.45)  # the wall's cells; a sofa north of the gap (y -2.15..-1.35, x <= 2.1)
    cells = np.asarray(message.data, dtype=np.int8).reshape(100, 100).T
    cells[int((0.3 + 5.0) / 0.1) : int((2.1 + 5.0) / 0.1) + 1, int((-2.15 + 5.0) / 0.1) : 37] = 100
    message.data = cells.T.ravel().tolist()
    toy = np.array([1.96, -2.3, 0.04])
    robot_side = math.atan2(toy[1] - (-1.6), toy[0] - 3.2)  # the robot north-east of it
    ranked = approaches(toy, robot_side, grid_clearance(message))
    assert abs(math.remainder(ranked[0] - math.pi, 2 * math.pi)) < 1e-6  # from the east, along the gap
    assert approaches(toy, robot_side, None)[0] == robot_side  # no grid: the robot's side first
