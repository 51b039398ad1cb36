"""Grasps for an arm that cannot point straight down everywhere: the wrist's preferred yaw, tilted grasps
over a table top, the scene without the grasped object, and the profile fields that ask for them."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from maestro_tools.common.errors import InvalidArgumentError, UnreachableError
from maestro_tools.common.surfaces import SupportSurface
from maestro_tools.grasping.collision import outside_box
from maestro_tools.grasping.tilted import tilted_grasps
from maestro_tools.grasping.top_down import top_down_grasps
from maestro_tools.motion.kinematics import ArmKinematics
from maestro_tools.robots import get_robot
from maestro_tools.robots.model import RobotModel

TILTS = tuple(math.radians(t) for t in (30.0, 45.0, 60.0))
BALL = np.array([0.07, 0.07, 0.07])  # a plush ball as wide as the PiPER's opening


def at(x: float, y: float, z: float) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, 3] = [x, y, z]
    return pose


def test_top_down_grasps_turn_the_wrist_to_the_preferred_yaw() -> None:
    box = np.array([0.1, 0.04, 0.05])  # closing across y: the TCP x axis along +-x
    default = top_down_grasps(at(0.5, 0.0, 0.0), box, 0.08, 0.025, 0.03)[0]
    turned = top_down_grasps(at(0.5, 0.0, 0.0), box, 0.08, 0.025, 0.03, down_yaw=math.pi)[0]
    assert default.pose[0, 0] > 0.99 and turned.pose[0, 0] < -0.99  # TCP x along +x, then along -x
    assert np.allclose(np.abs(default.pose[:3, 1]), np.abs(turned.pose[:3, 1]))  # across the same side
    assert np.allclose(default.pose[:3, 3], turned.pose[:3, 3]) and default.width == turned.width


def test_tilted_grasps_reach_over_the_near_side_with_the_wrist_yaw_kept() -> None:
    grasps = tilted_grasps(at(0.6, 0.0, 0.215), BALL, 0.07, 0.025, 0.03, TILTS, down_yaw=math.pi)
    assert grasps and {g.strategy for g in grasps} == {"tilted"}
    best = grasps[0]
    rotation = best.pose[:3, :3]
    assert np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-9) and np.linalg.det(rotation) > 0
    assert best.approach[0] > 0.4 and best.approach[2] < -0.4  # down and away from the base
    assert abs(best.pose[2, 1]) < 1e-9  # the fingers close horizontally
    assert rotation[0, 0] < 0  # the TCP x axis toward the base, as the wrist's down_yaw (pi) has it
    tilts = sorted(round(math.degrees(math.acos(-g.approach[2]))) for g in grasps if g.approach[0] > 0.4)
    assert tilts == [30, 45, 60]
    for grasp in grasps:  # the TCP inside the ball, the pads above the table top
        assert np.linalg.norm(grasp.pose[:3, 3] - [0.6, 0.0, 0.215]) < 0.035
        assert grasp.pose[2, 3] >= 0.18 + 0.03 * -grasp.approach[2] - 1e-9
        # the ball's middle well inside the pads' 25 mm (not at their tips, where it rolls out)
        depth = float((np.array([0.6, 0.0, 0.215]) - grasp.pose[:3, 3]) @ grasp.approach)
        assert 0.005 <= depth <= 0.02, depth
    assert best.width == pytest.approx(0.07)  # as wide as the opening: squeezed, no clearance


def test_tilted_grasps_skip_what_is_too_wide_and_keep_a_box_on_its_axes() -> None:
    assert tilted_grasps(at(0.6, 0.0, 0.2), np.array([0.09, 0.09, 0.05]), 0.07, 0.025, 0.03, TILTS) == []
    yawed = at(0.5, 0.2, 0.2)
    yawed[:3, :3] = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]  # box x along base y
    grasps = tilted_grasps(yawed, np.array([0.12, 0.04, 0.05]), 0.08, 0.025, 0.03, TILTS)
    assert grasps and all(abs(abs(g.pose[:3, 1] @ yawed[:3, 1]) - 1) < 1e-9 for g in grasps)  # narrow side
    assert all(g.width == pytest.approx(0.05) for g in grasps)
    with pytest.raises(InvalidArgumentError):
        tilted_grasps(np.full((4, 4), np.nan), BALL, 0.07, 0.025, 0.03, TILTS)


def test_outside_box_drops_the_object_itself() -> None:
    points = np.array([[0.6, 0.0, 0.215], [0.63, 0.0, 0.215], [0.6, 0.0, 0.18], [0.8, 0.1, 0.2]])
    kept = outside_box(points, at(0.6, 0.0, 0.215), BALL)
    assert kept.tolist() == [[0.8, 0.1, 0.2]]
    assert len(outside_box(np.zeros((0, 3)), at(0, 0, 0), BALL)) == 0


def test_the_piper_reaches_a_table_top_ball_only_tilted() -> None:
    """The failure this fixes: at a table top (z = 0.215 in base_link) 0.6 m ahead, no top-down grasp is
    reachable; the profile's tilted grasps are, grasp and pre-grasp back along the approach."""
    profile = get_robot("go2w_piper")
    arm, gripper = profile.arm, profile.gripper
    model = RobotModel(profile, (SupportSurface("floor", (0.0, 0.0, -0.5), (3.0, 3.0, 0.05)),))
    kinematics = ArmKinematics(model)

    def reachable(pose: np.ndarray, back: np.ndarray) -> bool:
        pregrasp = pose.copy()
        pregrasp[:3, 3] += back * 0.1
        try:
            kinematics.solve(pose, kinematics.solve(pregrasp, model.home).q)
        except UnreachableError:
            return False
        return True

    ball = at(0.6, -0.05, 0.215)
    wide = np.array([0.06, 0.06, 0.06])  # top-down needs 1 cm of clearance inside the 70 mm opening
    down = top_down_grasps(ball, wide, gripper.max_width, gripper.finger_depth, gripper.pad_clearance)
    assert down and not any(reachable(g.pose, np.array([0.0, 0.0, 1.0])) for g in down)
    tilted = tilted_grasps(
        ball,
        BALL,
        gripper.max_width,
        gripper.finger_depth,
        gripper.pad_clearance,
        arm.grasp_tilts,
        arm.down_yaw,
    )
    assert sum(reachable(g.pose, -g.approach) for g in tilted) >= 2


def test_profile_grasp_preferences_are_checked() -> None:
    arm = get_robot("franka").arm
    assert arm.down == (math.pi, 0.0, 0.0) and arm.grasp_tilts == () and arm.look_poses == ()
    assert get_robot("go2w_piper").arm.down[2] == pytest.approx(math.pi)
    with pytest.raises(InvalidArgumentError, match="tilts"):
        replace(arm, grasp_tilts=(math.radians(95.0),))
    with pytest.raises(InvalidArgumentError, match="look poses"):
        replace(arm, look_poses=((0.0, 0.1),))


def test_a_refused_downward_goal_names_the_wrists_yaw() -> None:
    from transforms3d.euler import euler2mat

    from maestro_agent.proxy.arm_checks import move_goal, wrist_hint

    def goal(yaw: float, roll: float = math.pi) -> object:
        pose = at(0.3, 0.0, 0.05)
        pose[:3, :3] = euler2mat(roll, 0.0, yaw, "sxyz")
        return move_goal([pose], "auto", 1.0, False, 0.0, "base_link")

    piper, franka = get_robot("go2w_piper").arm, get_robot("franka").arm
    assert "yaw 180 deg" in wrist_hint(goal(0.0), piper) and "3.1416" in wrist_hint(goal(0.0), piper)
    assert wrist_hint(goal(math.pi), piper) == wrist_hint(goal(-2.5), piper) == ""  # near its yaw
    assert wrist_hint(goal(0.0, roll=math.pi / 2), piper) == ""  # not pointing down
    assert wrist_hint(goal(0.0), franka) == ""  # a wrist without a preferred yaw
    with pytest.raises(InvalidArgumentError, match="unknown path"):
        move_goal([at(0, 0, 0)], "zigzag", 1.0, False, 0.0, "base_link")


class FakeArm:
    """The robot tool as execute() drives it: records moves; the move in stops ``short`` m early."""

    def __init__(self, short: float) -> None:
        self.short, self.moves, self.at = short, [], np.zeros(3)

    def open_gripper(self, width: float | None = None) -> None:
        pass

    def move_gripper_to(self, position, orientation=None, path: str = "auto", speed: float = 1.0) -> None:
        from maestro_tools.common.errors import StalledError

        self.moves.append(("to", np.asarray(position, dtype=float), path))
        self.at = np.asarray(position, dtype=float) + [0.0, 0.0, self.short if path == "line" else 0.0]
        if path == "line" and self.short > 0.005:
            raise StalledError("the move ended short of its target")

    refused: tuple[tuple[float, float, float], ...] = ()  # offsets the arm's limits refuse
    blocked: tuple[tuple[float, float, float], ...] = ()  # offsets whose straight line hits something seen

    def move_gripper_by(self, offset, path: str = "line") -> None:
        from maestro_tools.common.errors import CollisionError, UnreachableError

        self.moves.append(("by", np.asarray(offset, dtype=float), path))
        if any(np.allclose(offset, r, atol=1e-4) for r in self.refused):
            raise UnreachableError(f"no IK solution for {np.round(offset, 3).tolist()}")
        if path == "line" and any(np.allclose(offset, b, atol=1e-4) for b in self.blocked):
            raise CollisionError("the straight line is blocked: what the gripper holds would hit a cabinet")

    def get_state(self):
        from types import SimpleNamespace

        return SimpleNamespace(position=self.at)

    def grasp(self, expected_width: float | None = None):
        self.moves.append(("grasp", expected_width, ""))
        return "held"


def squeeze(width: float):
    from maestro_agent.proxy.types import GraspCandidate

    rotation = np.array([[-0.7071, 0.0, 0.7071], [0.0, 1.0, 0.0], [-0.7071, 0.0, -0.7071]])  # 45 deg, ahead
    return GraspCandidate(
        np.array([0.6, 0.0, 0.22]), np.zeros(3), rotation, width, 0.4, "tilted", "ball", True
    )


@pytest.mark.parametrize(
    ("short", "width", "grasps"), [(0.01, 0.07, True), (0.01, 0.06, True), (0.03, 0.07, False)]
)
def test_execute_closes_a_held_back_squeeze_and_backs_out_along_a_tilted_approach(
    short: float, width: float, grasps: bool
) -> None:
    from maestro_agent.proxy.grasping import Grasping
    from maestro_agent.proxy.harness import Harness
    from maestro_tools.common.errors import StalledError

    arm = FakeArm(short)
    tool = Grasping(None, Harness(get_robot("go2w_piper")), arm, None)  # type: ignore[arg-type]
    # Held back nearly in, as wide as the opening or not (a finger on a bowl's rim): it closes there and the
    # grasp check judges what is held; too far short, the stall is the answer.
    if not grasps:
        with pytest.raises(StalledError):
            tool.execute(squeeze(width), lift=0.1)
        return
    assert tool.execute(squeeze(width), lift=0.1) == "held"
    lift = arm.moves[-1]
    assert lift[0] == "by" and np.allclose(
        lift[1], [-0.07071, 0.0, 0.07071], atol=1e-4
    )  # back up the approach


def test_a_lift_the_arm_refuses_goes_straight_up_then_half_as_far() -> None:
    from maestro_agent.proxy.grasping import Grasping
    from maestro_agent.proxy.harness import Harness
    from maestro_tools.common.errors import UnreachableError

    arm = FakeArm(0.0)
    arm.refused = ((-0.07071, 0.0, 0.07071), (0.0, 0.0, 0.1))  # back along the approach, and straight up
    tool = Grasping(None, Harness(get_robot("go2w_piper")), arm, None)  # type: ignore[arg-type]
    assert tool.execute(squeeze(0.07), lift=0.1) == "held"
    lifts = [m[1] for m in arm.moves if m[0] == "by"]
    assert np.allclose(lifts[-1], [-0.035355, 0.0, 0.035355], atol=1e-4)  # half way back out: reachable
    arm = FakeArm(0.0)
    ways = ((-0.07071, 0.0, 0.07071), (0.0, 0.0, 0.1))
    arm.refused = (*ways, *(tuple(0.5 * c for c in way) for way in ways))  # every lift refused
    tool = Grasping(None, Harness(get_robot("go2w_piper")), arm, None)  # type: ignore[arg-type]
    with pytest.raises(UnreachableError, match="the object is held"):
        tool.execute(squeeze(0.07), lift=0.1)


def test_pick_looks_from_half_as_far_back_or_above_the_next_grasp_where_the_arm_is_refused() -> None:
    from maestro_agent.proxy.grasping import Grasping
    from maestro_agent.proxy.hand_views import ABOVE, _above
    from maestro_agent.proxy.harness import Harness
    from maestro_tools.common.errors import UnreachableError

    class LimitedArm(FakeArm):
        def __init__(self, reachable: list[np.ndarray]) -> None:
            super().__init__(0.0)
            self.reachable = reachable

        def move_gripper_to(self, position, orientation=None, path: str = "auto", speed: float = 1.0) -> None:
            if not any(np.allclose(position, r) for r in self.reachable):
                raise UnreachableError(f"no IK solution for {np.round(position, 3).tolist()}")
            super().move_gripper_to(position, orientation, path, speed)

    first, second = squeeze(0.06), squeeze(0.05)
    arm = LimitedArm([_above(first, ABOVE / 2)])
    tool = Grasping(None, Harness(get_robot("go2w_piper")), arm, None)  # type: ignore[arg-type]
    tool._move_above([first, second])
    assert np.allclose(arm.moves[-1][1], _above(first, ABOVE / 2))
    arm.reachable = []
    with pytest.raises(UnreachableError, match="no pose above any of the 2 grasp"):
        tool._move_above([first, second])


def test_a_look_pose_against_what_is_seen_goes_on_to_the_next_grasp() -> None:
    """A look pose whose configuration would come within the clearance of the scene (the mapped top of a
    sofa's back over a toy behind it) is refused like one out of reach: the next grasp's, else a
    refusal naming them; pick's look at a remembered floor toy then goes on without it."""
    from maestro_agent.proxy.grasping import Grasping
    from maestro_agent.proxy.hand_views import ABOVE, _above
    from maestro_agent.proxy.harness import Harness
    from maestro_tools.common.errors import CollisionError, UnreachableError

    class CrowdedArm(FakeArm):
        def __init__(self, clear: list[np.ndarray]) -> None:
            super().__init__(0.0)
            self.clear = clear

        def move_gripper_to(self, position, orientation=None, path: str = "auto", speed: float = 1.0) -> None:
            if not any(np.allclose(position, c) for c in self.clear):
                raise CollisionError("the goal configuration collides: the robot's piper_link3 would come "
                                     "within 1.5 cm of a seen object")  # fmt: skip
            super().move_gripper_to(position, orientation, path, speed)

    first, second = squeeze(0.06), squeeze(0.05)
    arm = CrowdedArm([_above(second, ABOVE)])
    tool = Grasping(None, Harness(get_robot("go2w_piper")), arm, None)  # type: ignore[arg-type]
    tool._move_above([first, second])
    assert np.allclose(arm.moves[-1][1], _above(second, ABOVE))
    arm.clear = []
    with pytest.raises(UnreachableError, match=r"reachable and clear .*piper_link3"):
        tool._move_above([first, second])
    box = (np.eye(4), np.full(3, 0.06))
    box[0][:3, 3] = 0.5, 0.1, -0.35
    assert not tool._look_at(box, "orange ball")


def test_a_look_move_held_back_by_furniture_goes_home_and_on_to_the_next_grasp() -> None:
    from maestro_agent.proxy.grasping import Grasping
    from maestro_agent.proxy.hand_views import ABOVE, _above
    from maestro_agent.proxy.harness import Harness
    from maestro_tools.common.errors import StalledError, UnreachableError

    class BlockedArm(FakeArm):
        def __init__(self, blocked: list[np.ndarray]) -> None:
            super().__init__(0.0)
            self.blocked = blocked

        def move_gripper_to(self, position, orientation=None, path: str = "auto", speed: float = 1.0) -> None:
            super().move_gripper_to(position, orientation, path, speed)
            if any(np.allclose(position, b) for b in self.blocked):
                raise StalledError("the arm stalled: piper_joint2 lags its trajectory (blocked by contact?)")

        def move_home(self) -> None:
            self.moves.append(("home", None, ""))

    first, second = squeeze(0.06), squeeze(0.05)
    second.position[1] = 0.1  # beside the first
    arm = BlockedArm([_above(first, ABOVE)])
    tool = Grasping(None, Harness(get_robot("go2w_piper")), arm, None)  # type: ignore[arg-type]
    tool._move_above([first, second])
    kinds = [m[0] for m in arm.moves]
    assert kinds == ["to", "home", "to"]  # not nearer along the blocked line: the next grasp
    assert np.allclose(arm.moves[-1][1], _above(second, ABOVE))
    arm = BlockedArm([_above(first, ABOVE), _above(second, ABOVE)])
    tool = Grasping(None, Harness(get_robot("go2w_piper")), arm, None)  # type: ignore[arg-type]
    with pytest.raises(UnreachableError, match=r"reachable and clear .*blocked by contact"):
        tool._move_above([first, second])


def test_a_straight_lift_against_something_seen_is_planned_around_it() -> None:
    from maestro_agent.proxy.grasping import Grasping
    from maestro_agent.proxy.harness import Harness

    arm = FakeArm(0.0)
    arm.blocked = ((-0.07071, 0.0, 0.07071),)  # backing out, what is held would hit a cabinet's handle
    tool = Grasping(None, Harness(get_robot("go2w_piper")), arm, None)  # type: ignore[arg-type]
    assert tool.execute(squeeze(0.07), lift=0.1) == "held"
    lifts = [(m[1], m[2]) for m in arm.moves if m[0] == "by"]
    assert [path for _, path in lifts] == ["line", "auto"]  # the same lift, planned
    assert np.allclose(lifts[-1][0], [-0.07071, 0.0, 0.07071], atol=1e-4)
