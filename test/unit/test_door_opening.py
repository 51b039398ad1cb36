"""``base.open_door`` without ROS: the door's geometry from detection boxes, and the sequence of base and
arm moves over the test fakes (a navigation that moves the base where it is sent, a perception that sees
a door in the map from wherever the base is, an arm that records its moves)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maestro_agent.proxy.base import Base
from maestro_agent.proxy.door import (
    GRIP_FROM_PIVOT,
    PUSH,
    STAND,
    DoorGeometry,
    base_to_map,
    door_geometry,
    rpy,
)
from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.types import BasePose, Detection
from maestro_tools.common.errors import InvalidArgumentError, NotFoundError, StalledError, UnavailableError
from test.unit.test_base_tool import GO2W, FakeNavigation

# A door in the map's x = -1 plane (the robot outside at x < -1), its lever on the +y side pointing to -y.
FACING_Y = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # box x along -y: yaw -90 deg
DOOR = (np.array([-1.02, 0.0, 1.0]), np.array([0.89, 0.04, 2.0]))
HANDLE = (np.array([-1.075, 0.305, 0.95]), np.array([0.145, 0.07, 0.024]))  # the near lever and its rose
LEVER_PIVOT = np.array([-1.098, 0.365, 0.95])


class Box:
    def __init__(self, position: np.ndarray, extent: np.ndarray, rotation: np.ndarray = FACING_Y) -> None:
        self.position, self.extent, self.rotation = position, extent, rotation


def test_the_geometry_takes_the_normal_from_the_doors_thin_side_and_the_pivot_away_from_its_middle() -> None:
    door = door_geometry(Box(*DOOR), Box(*HANDLE), viewer=np.array([-2.3, 0.0, 0.4]))
    assert door.normal == pytest.approx([1.0, 0.0, 0.0])  # away from the viewer: the way it is pushed
    assert door.along == pytest.approx([0.0, -1.0, 0.0])  # towards the door's middle (its hinge side)
    assert door.pivot == pytest.approx(LEVER_PIVOT, abs=0.005)
    assert door.grip == pytest.approx(door.pivot + [0.0, -GRIP_FROM_PIVOT, 0.0])
    inside = door_geometry(Box(*DOOR), Box(*HANDLE), viewer=np.array([0.5, 0.0, 0.4]))
    assert inside.normal == pytest.approx([-1.0, 0.0, 0.0])  # seen from the room: pushed the other way
    tipped = np.array([[1.0, 0.0, 0.0], [0.0, 0.7071, -0.7071], [0.0, 0.7071, 0.7071]])  # 45 deg about x
    with pytest.raises(InvalidArgumentError, match="not upright"):
        door_geometry(Box(DOOR[0], DOOR[1], tipped), Box(*HANDLE), np.zeros(3))


def test_the_hand_approaches_tilted_down_with_the_jaws_across_the_lever_and_pressing_turns_it_down() -> None:
    door = door_geometry(Box(*DOOR), Box(*HANDLE), viewer=np.array([-2.3, 0.0, 0.4]))
    hand = door.hand()
    assert hand.T @ hand == pytest.approx(np.eye(3)) and np.linalg.det(hand) == pytest.approx(1.0)
    approach, jaws = hand[:, 2], hand[:, 1]
    assert approach[0] > 0.8 and approach[2] < -0.3  # ahead and down
    assert abs(float(np.dot(jaws, door.along))) < 1e-9  # they close across the lever
    roll, pitch, yaw = rpy(hand)
    c, s = math.cos, math.sin
    rebuilt = (
        np.array([[c(yaw), -s(yaw), 0], [s(yaw), c(yaw), 0], [0, 0, 1]])
        @ np.array([[c(pitch), 0, s(pitch)], [0, 1, 0], [-s(pitch), 0, c(pitch)]])
        @ np.array([[1, 0, 0], [0, c(roll), -s(roll)], [0, s(roll), c(roll)]])
    )
    assert rebuilt == pytest.approx(hand)
    axis, turn = door.press_axis(), math.radians(30.0)  # Rodrigues: the lever's end turned 30 degrees
    end = door.along * math.cos(turn) + np.cross(axis, door.along) * math.sin(turn)
    assert end[2] < -0.45


def test_a_geometry_moved_to_the_map_and_back_is_unchanged() -> None:
    door = door_geometry(Box(*DOOR), Box(*HANDLE), viewer=np.array([-2.3, 0.0, 0.4]))
    pose = BasePose(-1.6, 0.3, 0.2, 0.44)
    back = door.moved(base_to_map(pose)).moved(np.linalg.inv(base_to_map(pose)))
    for name in DoorGeometry.__dataclass_fields__:
        assert getattr(back, name) == pytest.approx(getattr(door, name))


class FakeDoorPerception:
    """A test fake: the door and handle boxes of the map, seen in the base frame wherever the base is."""

    def __init__(self, nav: FakeNavigation, labels: tuple[str, ...] = ("door", "door handle")) -> None:
        self.nav, self.labels = nav, labels

    def detect(self, labels: list[str], camera: str = "") -> list[Detection]:
        to_base = np.linalg.inv(self.nav.pose)
        found = []
        for label, (position, extent) in zip(("door", "door handle"), (DOOR, HANDLE), strict=True):
            if label in labels and label in self.labels:
                seen = to_base[:3, :3] @ position + to_base[:3, 3]
                found.append(
                    Detection(label, 0.9, seen, extent, to_base[:3, :3] @ FACING_Y, (0, 0, 1, 1), "head")
                )
        if not found:
            raise NotFoundError("nothing visible")
        return found


class FakeArm:
    """A test fake of the robot tool: records its calls; the lever's end stop holds the press back."""

    def __init__(self, nav: FakeNavigation) -> None:
        self.nav, self.calls = nav, []

    def __getattr__(self, name: str) -> object:
        def call(*args: object, **kwargs: object) -> None:
            self.calls.append((name, args, kwargs))
            if name == "move_gripper_arc":
                raise StalledError("the arm stalled: piper_joint6 is 0.03 rad from its goal")

        return call


def _opener(labels: tuple[str, ...] = ("door", "door handle")) -> tuple[Base, FakeNavigation, FakeArm]:
    nav = FakeNavigation()
    nav.pose[:2, 3] = -2.3, 0.0
    arm = FakeArm(nav)
    base = Base(nav, Harness(GO2W), perception=FakeDoorPerception(nav, labels), robot=arm)  # type: ignore[arg-type]
    return base, nav, arm


def test_open_door_stands_grips_presses_pushes_lets_go_and_drives_through() -> None:
    base, nav, arm = _opener()
    end = base.open_door(through=1.0)
    stand, push, back, line_up, through = [(g.goal.pose.position, g.behavior) for g in nav.goals]
    grip = LEVER_PIVOT + [0.0, -GRIP_FROM_PIVOT, 0.0]
    assert (stand[0].y, stand[1]) == pytest.approx((grip[1], ""), abs=0.005)
    assert grip[0] - stand[0].x == pytest.approx(STAND, abs=0.01)  # the lever within the arm's reach
    assert (push[0].x - stand[0].x, push[1]) == (
        pytest.approx(PUSH),
        "push",
    )  # the base pushes, the hand holds
    assert back[0].x < push[0].x - 0.4 and line_up[0].y == pytest.approx(0.0)  # in front of the doorway
    assert (through[0].x, through[0].y, through[1]) == (pytest.approx(-0.02), pytest.approx(0.0), "push")
    assert (end.x, end.y) == pytest.approx((-0.02, 0.0))
    names = [name for name, _, _ in arm.calls]
    assert names == [
        "open_gripper", "move_gripper_to", "move_gripper_to", "grasp", "move_gripper_arc",
        "open_gripper", "move_gripper_by", "move_home",
    ]  # fmt: skip
    gripped = arm.calls[2][1][0]  # in the base frame at the stand: the lever 0.5 m ahead
    assert gripped == pytest.approx([STAND + 0.005, 0.0, grip[2]], abs=0.01)
    _pivot, axis, degrees = arm.calls[4][1]
    assert axis == pytest.approx([1.0, 0.0, 0.0]) and degrees > 45  # about the normal: the end goes down


def test_a_door_that_does_not_give_is_let_go_and_reported() -> None:
    base, nav, arm = _opener()
    nav.blocked = ((LEVER_PIVOT[0] - STAND + PUSH, LEVER_PIVOT[1] - GRIP_FROM_PIVOT),)  # the push's goal
    with pytest.raises(StalledError, match="the door did not give with its handle pressed"):
        base.open_door()
    assert [name for name, _, _ in arm.calls][-2:] == ["open_gripper", "move_gripper_by"]


def test_open_door_needs_the_door_in_view_an_arm_and_a_sensible_distance() -> None:
    base, _, _ = _opener(labels=("door",))
    with pytest.raises(NotFoundError, match="'door handle' not in view"):
        base.open_door()
    with pytest.raises(InvalidArgumentError, match=r"through must be 0\.3\.\.3 m"):
        base.open_door(through=10.0)
    armless = Base(FakeNavigation(), Harness(GO2W))  # type: ignore[arg-type]
    with pytest.raises(UnavailableError, match="no arm or camera"):
        armless.open_door()
