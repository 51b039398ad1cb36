"""``skills.fold_corner``'s motion, with a robot that only records: where the pinch is laid down."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.skills import LAID, Skills
from maestro_agent.proxy.types import GripperState
from maestro_tools.robots import get_robot

FRANKA = get_robot("franka")


class RecordingRobot:
    def __init__(self) -> None:
        self.path: list[np.ndarray] = []

    def open_gripper(self, width: float | None = None) -> GripperState:
        return GripperState(0.08, 0.0, False)

    def grasp(self, expected_width: float | None = None, force: float | None = None) -> GripperState:
        return GripperState(0.005, 0.94, True)

    def move_gripper_to(self, position: Any, orientation: Any = None, **_: Any) -> None:
        self.path.append(np.asarray(position, dtype=float))

    def move_gripper_along(self, waypoints: Any, **_: Any) -> None:
        self.path.extend(np.asarray(p, dtype=float) for p, _ in waypoints)

    def move_gripper_by(self, offset: Any, **_: Any) -> None:
        self.path.append(self.path[-1] + np.asarray(offset, dtype=float))


def _fold(onto: list[float]) -> tuple[np.ndarray, float]:
    robot = RecordingRobot()
    skills = Skills(Harness(FRANKA, render=False), robot, None)  # type: ignore[arg-type]
    result = skills.fold_corner([0.37, 0.12, 0.003], onto)
    tip = float(np.max(skills._volumes[:, 2]))
    laid = robot.path[-2]  # the last waypoint, before backing off upwards
    assert np.linalg.norm(laid[:2] - np.asarray(onto[:2])) < 1e-6
    assert result.distance == pytest.approx(0.0, abs=1e-6)
    return laid, tip


def test_on_the_flat_cloth_the_pinch_is_laid_a_doubled_cloth_above_the_table() -> None:
    laid, tip = _fold([0.49, 0.0, 0.003])
    assert laid[2] - tip == pytest.approx(0.001 + LAID, abs=1e-6)


def test_over_corners_folded_before_it_is_laid_on_top_of_them() -> None:
    laid, tip = _fold([0.49, 0.0, 0.025])
    assert laid[2] - tip > 0.025 + 0.005
