"""pick's fallbacks without ROS: the next grasp when the arm refuses one (but never after the object is
held), and the hand camera pointed where the semantic map remembers an object no camera sees."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from maestro_agent.proxy.grasping import Grasping
from maestro_agent.proxy.hand_views import LOOK_BACKS
from maestro_agent.proxy.harness import Harness
from maestro_tools.common.errors import (
    CollisionError,
    InvalidArgumentError,
    NotFoundError,
    StalledError,
    UnreachableError,
)
from maestro_tools.robots import get_robot
from test.unit.test_tilted_grasps import FakeArm, squeeze

GO2W = get_robot("go2w_piper")


class RefusingArm(FakeArm):
    """Refuses free-space moves to the ``refused`` positions, as the motion's IK does at the edge of reach
    (or its clearance check beside another object: ``error``)."""

    def __init__(self, refused: list[np.ndarray], error: type[Exception] = UnreachableError) -> None:
        super().__init__(0.0)
        self.refused_at, self.error = refused, error

    def move_gripper_to(self, position, orientation=None, path: str = "auto", speed: float = 1.0) -> None:
        if path == "auto" and any(np.allclose(position, r) for r in self.refused_at):
            raise self.error(f"no IK solution for {np.round(position, 3).tolist()}")
        super().move_gripper_to(position, orientation, path, speed)


@pytest.mark.parametrize("error", [UnreachableError, CollisionError])
def test_a_grasp_the_arm_refuses_gives_way_to_the_next_one(error: type[Exception]) -> None:
    first, second = squeeze(0.07), squeeze(0.07)
    second.position[:] = [0.55, 0.02, 0.2]
    arm = RefusingArm([first.position], error)
    tool = Grasping(None, Harness(GO2W), arm, None)  # type: ignore[arg-type]
    assert tool._grasp_first_reached([first, second], lift=0.1) == "held"
    assert [m[0] for m in arm.moves].count("grasp") == 1 and np.allclose(arm.moves[0][1], second.position)
    arm = RefusingArm([first.position, second.position], error)
    with pytest.raises(error, match="no IK solution"):
        Grasping(None, Harness(GO2W), arm, None)._grasp_first_reached([first, second], 0.1)  # type: ignore[arg-type]


class HeldBackArm(FakeArm):
    """Every move to the grasp stops ``short`` m early: a finger lands on the (soft) object on the way in."""

    def move_gripper_to(self, position, orientation=None, path: str = "auto", speed: float = 1.0) -> None:
        from maestro_tools.common.errors import StalledError

        super().move_gripper_to(position, orientation, "line", speed)
        if path != "line" and self.short > 0.005:
            raise StalledError("the move ended short of its target")


@pytest.mark.parametrize(("short", "grasps"), [(0.01, True), (0.03, False)])
def test_an_approach_held_back_by_the_object_closes_when_nearly_in(short: float, grasps: bool) -> None:
    arm = HeldBackArm(short)
    tool = Grasping(None, Harness(GO2W), arm, None)  # type: ignore[arg-type]
    if grasps:
        assert tool._grasp_first_reached([squeeze(0.07)], lift=0.1) == "held"
    else:  # too far short of the grasp: no blind close, the stall is reported
        with pytest.raises(StalledError, match="short of its target"):
            tool._grasp_first_reached([squeeze(0.07)], lift=0.1)
    assert [m[0] for m in arm.moves].count("grasp") == int(grasps)


def test_a_lift_refused_after_the_grasp_is_not_retried_with_another_grasp() -> None:
    arm = FakeArm(0.0)
    ways = ((-0.07071, 0.0, 0.07071), (0.0, 0.0, 0.1))
    arm.refused = (*ways, *(tuple(0.5 * c for c in way) for way in ways))  # every lift refused
    tool = Grasping(None, Harness(GO2W), arm, None)  # type: ignore[arg-type]
    with pytest.raises(UnreachableError, match="the object is held"):
        tool._grasp_first_reached([squeeze(0.07), squeeze(0.07)], lift=0.1)
    assert [m[0] for m in arm.moves].count("grasp") == 1


class Memory:
    """A test fake of perception's hook into the semantic map: boxes (base frame) by label."""

    def __init__(self, boxes: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.boxes, self.asked = boxes, []

    def remember(self, label: str) -> list[tuple[np.ndarray, np.ndarray]]:
        self.asked.append(label)
        return self.boxes


def _box(x: float, y: float, z: float) -> tuple[np.ndarray, np.ndarray]:
    pose = np.eye(4)
    pose[:3, 3] = x, y, z
    return pose, np.full(3, 0.08)


def test_the_hand_camera_looks_at_a_floor_toy_the_map_remembers_within_reach() -> None:
    far, table, floor = _box(2.0, 0.3, -0.2), _box(0.5, 0.1, 0.25), _box(0.55, -0.1, -0.21)
    memory = Memory([far, table, floor])  # the more confident ones out of reach, or not on the floor
    tool = Grasping(None, Harness(GO2W), FakeArm(0.0), memory)  # type: ignore[arg-type]
    box = tool._remembered_low("orange ball")
    assert box is not None and np.allclose(box[0], floor[0]) and memory.asked == ["orange ball"]
    arm = FakeArm(0.0)
    assert Grasping(None, Harness(GO2W), arm, memory)._look_at(box, "orange ball")  # type: ignore[arg-type]
    (move,) = arm.moves
    looked_from, toy = move[1], floor[0][:3, 3]
    assert np.linalg.norm(looked_from - toy) == pytest.approx(LOOK_BACKS[0], abs=0.03)
    assert looked_from[2] > toy[2] + 0.1  # from above it, back along a tilted approach
    out = looked_from[:2] / np.linalg.norm(looked_from[:2])  # straight out from the arm's base
    assert out @ (toy[:2] / np.linalg.norm(toy[:2])) > 0.99 and np.linalg.norm(looked_from[:2]) < 0.55
    assert Grasping(None, Harness(GO2W), FakeArm(0.0), Memory([far, table]))._remembered_low("x") is None  # type: ignore[arg-type]
    off = Harness(GO2W, enabled=False)
    assert Grasping(None, off, FakeArm(0.0), Memory([floor]))._remembered_low("x") is None  # type: ignore[arg-type]


class OpeningArm(FakeArm):
    """Records how wide the gripper was opened before each move in."""

    def __init__(self) -> None:
        super().__init__(0.0)
        self.openings: list[float | None] = []

    def open_gripper(self, width: float | None = None) -> None:
        self.openings.append(width)


def test_opening_overrides_a_part_grasps_narrow_pregrasp_opening() -> None:
    rim = squeeze(0.015)
    rim = type(rim)(rim.position, rim.approach, rim.rotation, 0.015, 0.5, "rim", "bowl", True)
    arm = OpeningArm()
    tool = Grasping(None, Harness(GO2W), arm, None)  # type: ignore[arg-type]
    tool.execute(rim, lift=0.1)
    assert arm.openings[-1] == pytest.approx(0.045)  # the rim's width + 3 cm
    tool.execute(rim, lift=0.1, opening=0.06)
    assert arm.openings[-1] == pytest.approx(0.06)
    tool.execute(rim, lift=0.1, opening=GO2W.gripper.max_width)
    assert arm.openings[-1] is None  # fully open
    for bad in (1.0, "wide", None):
        with pytest.raises(InvalidArgumentError, match="opening must be 0"):
            tool.execute(rim, lift=0.1, opening=bad)


class SameNamedObjects:
    """A test fake of perception (detections sharing a label) and of the planner's service (a grasp at
    whatever detection it is sent)."""

    def __init__(self, positions: list[list[float]]) -> None:
        from maestro_msgs.msg import Detection

        self.found = []
        for x, y, z in positions:
            detection = Detection(label="akita black bowl", camera="scene")
            detection.pose.position.x, detection.pose.position.y, detection.pose.position.z = x, y, z
            self.found.append(detection)
        self.planned_for: list[object] = []

    def _find(self, labels, camera, masks=False):
        return self.found

    def call(self, client, request, timeout):
        from types import SimpleNamespace

        from maestro_msgs.msg import Grasp

        self.planned_for.append(request.detection)
        grasp = Grasp(
            width=0.05, score=0.5, strategy="top_down", object_label="akita black bowl", reachable=True
        )
        grasp.pose.position = request.detection.pose.position
        return SimpleNamespace(grasps=[grasp])


def test_near_picks_which_of_several_same_named_objects_is_planned_for() -> None:
    fake = SameNamedObjects([[0.5, 0.3, 0.02], [0.6, 0.2, 0.02]])
    tool = Grasping(None, Harness(GO2W, render=False), FakeArm(0.0), fake)  # type: ignore[arg-type]
    tool._ros, tool._plan_grasp = fake, None
    tool.plan("black bowl")
    assert fake.planned_for[-1] is fake.found[0]  # the most visible first, without near
    tool.plan("black bowl", near=[0.61, 0.19, 0.0])
    assert fake.planned_for[-1] is fake.found[1]
    with pytest.raises(InvalidArgumentError, match="near must be"):
        tool.plan("black bowl", near="left")


def test_pick_falls_back_to_the_first_views_grasps_when_the_close_views_are_refused() -> None:
    # The hand camera's one grasp on cream cheese beside a can: refused for clearance; the scene camera's
    # grasp across the other side is then tried.
    close, far = squeeze(0.05), squeeze(0.05)
    far.position[:] = [0.55, 0.02, 0.2]
    arm = RefusingArm([close.position], CollisionError)
    no_memory = SimpleNamespace(remember=None)  # a test fake of perception without a semantic map
    tool = Grasping(None, Harness(get_robot("libero")), arm, no_memory)  # type: ignore[arg-type]
    views = {"scene": [far], "wrist": [close]}
    tool.plan = lambda label, camera="", strategy="", near=None: views[camera]  # type: ignore[method-assign]
    tool._move_above = lambda candidates, backs=(): None  # type: ignore[method-assign]
    assert tool.pick("cream cheese") == "held"
    grasped_at = [m[1] for m in arm.moves if m[0] == "to" and m[2] == "line"]
    assert np.allclose(grasped_at[-1], far.position)


class GableArm(FakeArm):
    """Grasps across the TCP's y = base x close on a carton's sloped gable, narrower than the carton: the
    grasp check calls them misses; across base y the fingers meet its full width."""

    def __init__(self) -> None:
        super().__init__(0.0)
        self.closing: list[np.ndarray] = []

    def move_gripper_to(self, position, orientation=None, path: str = "auto", speed: float = 1.0) -> None:
        super().move_gripper_to(position, orientation, path, speed)
        self.orientation = orientation

    def grasp(self, expected_width: float | None = None):
        from transforms3d.euler import euler2mat

        from maestro_tools.common.errors import GraspFailedError

        closing = euler2mat(*self.orientation, "sxyz")[:, 1]
        self.closing.append(closing)
        if abs(closing[0]) > 0.9:
            raise GraspFailedError("the fingers closed to 33.4 mm on an object expected to be 49 mm wide")
        return "held"


def test_after_a_miss_pick_tries_a_grasp_across_another_side_first() -> None:
    from transforms3d.euler import euler2mat

    from maestro_agent.proxy.types import GraspCandidate

    def top_down(yaw: float, score: float) -> GraspCandidate:
        orientation = np.array([np.pi, 0.0, yaw])
        rotation = euler2mat(*orientation, "sxyz")
        return GraspCandidate(
            np.array([0.49, -0.24, 0.12]), orientation, rotation, 0.06, score, "top_down", "milk", True
        )

    # The close view ranks three grasps across base x (yaw +-90 deg) above the one across base y.
    close = [
        top_down(np.pi / 2, 0.5),
        top_down(-np.pi / 2, 0.49),
        top_down(np.pi / 2 + 0.1, 0.48),
        top_down(0.0, 0.4),
    ]
    arm = GableArm()
    tool = Grasping(None, Harness(get_robot("libero")), arm, SimpleNamespace(remember=None))  # type: ignore[arg-type]
    tool.plan = lambda label, camera="", strategy="", near=None: close  # type: ignore[method-assign]
    tool._move_above = lambda candidates, backs=(): None  # type: ignore[method-assign]
    assert tool.pick("milk") == "held"
    assert len(arm.closing) == 2 and abs(arm.closing[-1][1]) > 0.99  # one miss, then across base y


def test_an_object_the_detection_camera_does_not_see_is_looked_for_with_the_hand_camera_at_near() -> None:
    # libero_object_task/8 state 7: the orange juice fell behind the basket, out of the scene camera's
    # sight; the program's look from above the basket had found it there
    juice = squeeze(0.05)
    juice.position[:] = [0.45, 0.29, 0.05]
    no_memory = SimpleNamespace(remember=None)  # a test fake of perception without a semantic map
    looked: list[np.ndarray] = []

    def plan(label, camera="", strategy="", near=None):
        if camera == "scene":
            raise NotFoundError("not visible in the scene camera: orange juice")
        return [juice]

    def make(enabled: bool = True) -> tuple[Grasping, FakeArm]:
        arm = FakeArm(0.0)
        tool = Grasping(None, Harness(get_robot("libero"), enabled=enabled), arm, no_memory)  # type: ignore[arg-type]
        tool.plan = plan  # type: ignore[method-assign]
        tool._look_at = lambda box, label: looked.append(box[0][:3, 3]) or True  # type: ignore[method-assign]
        tool._move_above = lambda candidates, backs=(): None  # type: ignore[method-assign]
        return tool, arm

    tool, arm = make()
    assert tool.pick("orange juice", near=[0.45, 0.29, 0.04]) == "held"
    assert len(looked) == 1 and np.allclose(looked[0], [0.45, 0.29, 0.04])
    grasped_at = [m[1] for m in arm.moves if m[0] == "to" and m[2] == "line"]
    assert np.allclose(grasped_at[-1], juice.position)
    for tool, near in ((make()[0], None), (make()[0], "left"), (make(enabled=False)[0], [0.45, 0.29, 0.04])):
        with pytest.raises(NotFoundError, match="not visible"):  # nowhere to look, or no harness: as before
            tool.pick("orange juice", near=near)
    assert len(looked) == 1
