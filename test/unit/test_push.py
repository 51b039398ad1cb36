"""``skills.push``: where the closed fingers go down beside an object and how they travel (the plan, and
the moves sent to a robot that only records), and bad arguments named with what is valid."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from maestro_agent.proxy.hand_geometry import finger_reach, fingertips, hand_underside
from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.push import GAP, PUSH_OPENING, STROKE, push_plan
from maestro_agent.proxy.skills import Skills
from maestro_agent.proxy.types import Detection, GripperState
from maestro_tools.common.errors import CollisionError, InvalidArgumentError
from maestro_tools.robots import get_robot

FRANKA = get_robot("franka")
VOLUMES = FRANKA.gripper.volumes
TIPS, REACH, UNDERSIDE = (
    fingertips(VOLUMES),
    finger_reach(VOLUMES, FRANKA.gripper.max_width, PUSH_OPENING),
    hand_underside(VOLUMES),
)


def _box(
    position: list[float], extent: list[float], yaw: float = 0.0, label: str = "cream cheese"
) -> Detection:
    c, s = np.cos(yaw), np.sin(yaw)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return Detection(label, 0.9, np.array(position), np.array(extent), rotation, (0, 0, 1, 1), "scene")


def test_the_panda_hand_measures_from_its_profile() -> None:
    """Nearly closed, the fingers reach 2.9 cm either side of the TCP, the tips 1 cm past it; the hand: 3.2 cm
    up; fully closed, 2.7 cm."""
    assert pytest.approx(0.027 + PUSH_OPENING / 2) == REACH
    assert pytest.approx(0.027) == finger_reach(VOLUMES, FRANKA.gripper.max_width)
    assert pytest.approx(0.010) == TIPS
    assert pytest.approx(0.032) == UNDERSIDE


def test_a_flat_box_is_pushed_low_from_its_far_side_with_the_narrow_hand_across_the_path() -> None:
    cheese = _box([0.66, -0.10, 0.009], [0.081, 0.043, 0.018])
    plan = push_plan(cheese, [-1.0, 0.0], 0.09, TIPS, REACH, UNDERSIDE)
    # down beside its far face (+x), a gap away, and pushing towards -x
    assert plan.start[0] == pytest.approx(0.66 + 0.0405 + REACH + GAP)
    assert plan.start[1] == pytest.approx(-0.10)
    assert plan.start[2] - TIPS == pytest.approx(0.008)  # the fingertips 8 mm above its bottom
    assert plan.give == pytest.approx(0.005)  # stopped higher, they stand on its 1.8 cm top
    # the fingers close along the push: the hand's 21 cm side lies along the path, not across it
    assert abs(plan.hand[:, 1] @ [1.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert plan.hand[:, 2] == pytest.approx([0.0, 0.0, -1.0])
    steps = np.diff(np.vstack([plan.start, *plan.strokes]), axis=0)
    assert np.all(np.linalg.norm(steps, axis=1) <= STROKE + 1e-9)
    assert plan.strokes[-1] - plan.start == pytest.approx([-(GAP + 0.09), 0.0, 0.0])


def test_a_tall_object_is_pushed_high_enough_for_the_hand_to_clear_its_top() -> None:
    can = _box([0.5, 0.2, 0.05], [0.07, 0.07, 0.10], label="can")
    plan = push_plan(can, [0.0, 1.0, 0.3], 0.05, TIPS, REACH, UNDERSIDE)  # the vertical part is dropped
    assert plan.start[2] + UNDERSIDE >= 0.10 + 0.005 - 1e-9
    assert plan.start[2] - TIPS < 0.10  # and the fingers still reach its side
    assert plan.strokes[-1][2] == pytest.approx(plan.start[2])
    assert plan.start[1] == pytest.approx(0.2 - 0.035 - REACH - GAP)


def test_a_yawed_box_is_measured_along_the_push() -> None:
    box = _box([0.6, 0.0, 0.01], [0.08, 0.04, 0.02], yaw=np.pi / 2)  # its long side along y now
    plan = push_plan(box, [0.0, -1.0], 0.05, TIPS, REACH, UNDERSIDE)
    assert plan.start[1] == pytest.approx(0.04 + REACH + GAP)


@pytest.mark.parametrize(
    ("direction", "distance", "message"),
    [
        ([0.0, 0.0], 0.05, "direction must be a horizontal"),
        ([0.0, 0.0, 1.0], 0.05, "direction must be a horizontal"),
        ("left", 0.05, "direction must be a horizontal"),
        ([1.0, 0.0], 0.5, r"distance must be 0.01..0.15 m"),
        ([1.0, 0.0], 0.0, r"distance must be 0.01..0.15 m"),
    ],
)
def test_bad_arguments_name_what_is_valid(direction: Any, distance: float, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        push_plan(_box([0.6, 0.0, 0.01], [0.05, 0.05, 0.02]), direction, distance, TIPS, REACH, UNDERSIDE)


class RecordingRobot:
    def __init__(self, stop_high: float = 0.0) -> None:
        self.path: list[np.ndarray] = []
        self.contact: list[bool] = []
        self.stop_high = stop_high  # m above the target the first descent stops (something under the fingers)

    def open_gripper(self, width: float | None = None) -> GripperState:
        assert width == PUSH_OPENING
        return GripperState(width, 0.95, False)

    def move_gripper_to(self, position: Any, orientation: Any = None, **options: Any) -> None:
        self.path.append(np.asarray(position, dtype=float))
        self.contact.append(bool(options.get("contact")))

    def move_gripper_by(self, offset: Any, **_: Any) -> None:
        self.path.append(self.path[-1] + np.asarray(offset, dtype=float))

    def get_state(self) -> SimpleNamespace:
        return SimpleNamespace(position=self.path[-1] + [0.0, 0.0, self.stop_high])


class SlidingPerception:
    """Sees two boxes of one name; the pushed one lags the fingers: 7 cm after the first push of 9 cm,
    9 cm after the second."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, labels: Any, camera: str = "") -> list[Detection]:
        self.calls += 1
        moved = {1: 0.0, 2: 0.07}.get(self.calls, 0.09)
        other = _box([0.4, 0.3, 0.01], [0.05, 0.03, 0.02])
        return [other, _box([0.66 - moved, -0.10, 0.009], [0.081, 0.043, 0.018])]


def _skills(robot: RecordingRobot) -> Skills:
    return Skills(Harness(FRANKA, render=False), robot, SlidingPerception())  # type: ignore[arg-type]


def test_push_goes_down_beside_the_one_near_and_pushes_on_from_where_it_lags() -> None:
    robot = RecordingRobot()
    result = _skills(robot).push("cream cheese", [-1.0, 0.0], 0.09, near=[0.65, -0.1, 0.0])
    above, start = robot.path[0], robot.path[1]
    assert start[:2] == pytest.approx([0.66 + 0.0405 + REACH + GAP, -0.10])
    assert above == pytest.approx(start + [0.0, 0.0, 0.08])
    # down, four strokes (the gap and 9 cm), all touching moves; up; then again for the 2 cm left and as
    # much as it lagged: 4 cm, in two strokes
    first, second = robot.contact[:6], robot.contact[6:]
    assert first == [False, True, True, True, True, True]
    assert second == [False, True, True, True]
    assert robot.path[8][0] == pytest.approx(0.66 - 0.07 + 0.0405 + REACH + GAP)  # beside where it lies now
    assert robot.path[8][0] - robot.path[10][0] == pytest.approx(GAP + 0.04)
    assert robot.path[-1] == pytest.approx(robot.path[-2] + [0.0, 0.0, 0.08])  # then up out of the way
    assert result.moved == pytest.approx(0.09)
    assert result.start[0] == pytest.approx(0.66)


def test_fingers_stopped_above_the_push_height_raise_and_back_off_up() -> None:
    robot = RecordingRobot(stop_high=0.006)  # on the box's top: 1 cm above its bottom
    with pytest.raises(CollisionError, match="something is in the way there"):
        _skills(robot).push("cream cheese", [-1.0, 0.0], 0.05, near=[0.65, -0.1, 0.0])
    assert robot.path[-1] == pytest.approx(robot.path[-2] + [0.0, 0.0, 0.08])
