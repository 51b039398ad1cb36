"""``skills.fold_corner``'s motion, with a robot that only records: where and how the fingers pinch the
corner, where the pinch is laid down and how the fingers leave the folded flap; and the towel's triangles,
along which each corner's crease must run."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from transforms3d.euler import euler2mat

from maestro_agent.proxy.harness import Harness
from maestro_agent.proxy.skills import FOLD_BACKOFF, LAID, PINCH_OPENING, PINCH_OVERHANG, PINCH_PRESS, Skills
from maestro_agent.proxy.types import GripperState
from maestro_tools.robots import get_robot
from maestro_tools.sim.tasks.fold_towel import cloth_mesh

FRANKA = get_robot("franka")


class RecordingRobot:
    def __init__(self) -> None:
        self.path: list[np.ndarray] = []
        self.hands: list[np.ndarray] = []  # the orientation of each move_gripper_to, as a rotation matrix
        self.openings: list[float | None] = []

    def open_gripper(self, width: float | None = None) -> GripperState:
        self.openings.append(width)
        return GripperState(0.08 if width is None else width, 0.0, False)

    def grasp(self, expected_width: float | None = None, force: float | None = None) -> GripperState:
        return GripperState(0.005, 0.94, True)

    def move_gripper_to(self, position: Any, orientation: Any = None, **_: Any) -> None:
        self.path.append(np.asarray(position, dtype=float))
        self.hands.append(euler2mat(*orientation, "sxyz"))

    def move_gripper_along(self, waypoints: Any, **_: Any) -> None:
        self.path.extend(np.asarray(p, dtype=float) for p, _ in waypoints)

    def move_gripper_by(self, offset: Any, **_: Any) -> None:
        self.path.append(self.path[-1] + np.asarray(offset, dtype=float))


def _fold(onto: list[float], robot: RecordingRobot | None = None) -> tuple[np.ndarray, float]:
    robot = robot or RecordingRobot()
    skills = Skills(Harness(FRANKA, render=False), robot, None)  # type: ignore[arg-type]
    result = skills.fold_corner([0.37, 0.12, 0.003], onto)
    tip = float(np.max(skills._volumes[:, 2]))
    laid = robot.path[-3]  # the last waypoint, before sliding out along the fold and backing off upwards
    assert np.linalg.norm(laid[:2] - np.asarray(onto[:2])) < 1e-6
    assert result.distance == pytest.approx(0.0, abs=1e-6)
    return laid, tip


def test_the_pads_go_down_astride_the_tip_closing_along_the_fold() -> None:
    """The outer pad lands on the table just beyond the corner, the inner one on the cloth: closing drags
    only the tip's strip of cloth between them (closing across the fold bunched the whole corner)."""
    robot = RecordingRobot()
    _, tip = _fold([0.49, 0.0, 0.003], robot)
    corner = np.array([0.37, 0.12])
    along = (np.array([0.49, 0.0]) - corner) / np.linalg.norm(np.array([0.49, 0.0]) - corner)
    assert robot.openings[0] == pytest.approx(PINCH_OPENING)
    pinch, hand = robot.path[1], robot.hands[1]  # above the corner, then down onto it
    assert np.allclose(pinch[:2], corner + along * (PINCH_OPENING / 2 - PINCH_OVERHANG))
    outer_pad = pinch[:2] - along * PINCH_OPENING / 2
    assert np.dot(outer_pad - corner, along) == pytest.approx(-PINCH_OVERHANG)
    assert abs(np.dot(hand[:2, 1], along)) == pytest.approx(1.0)  # the fingers close along y
    assert hand[2, 2] == pytest.approx(-1.0)  # pointing down
    assert pinch[2] - tip == pytest.approx(-PINCH_PRESS)  # the tips sent below the table: they press on it


def test_on_the_flat_cloth_the_pinch_is_laid_a_doubled_cloth_above_the_table() -> None:
    laid, tip = _fold([0.49, 0.0, 0.003])
    assert laid[2] - tip == pytest.approx(0.001 + LAID, abs=1e-6)


def test_over_corners_folded_before_it_is_laid_on_top_of_them() -> None:
    laid, tip = _fold([0.49, 0.0, 0.025])
    assert laid[2] - tip > 0.025 + 0.005


def test_the_open_fingers_slide_on_along_the_fold_before_rising() -> None:
    robot = RecordingRobot()
    laid, _ = _fold([0.49, 0.0, 0.003], robot)
    slid, raised = robot.path[-2], robot.path[-1]
    along = (np.array([0.49, 0.0]) - [0.37, 0.12]) / np.linalg.norm(np.array([0.49, 0.0]) - [0.37, 0.12])
    assert np.allclose(slid[:2] - laid[:2], along * FOLD_BACKOFF) and 0.0 < slid[2] - laid[2] < 0.01
    assert np.allclose(raised[:2], slid[:2]) and raised[2] - slid[2] == pytest.approx(0.08)


@pytest.mark.parametrize("n", [9, 7])
def test_every_corner_folds_onto_the_centre_along_edges_of_the_towel(n: int) -> None:
    """A sheet of inextensible triangles folds flat only along its edges: the crease of each corner folded
    onto the centre (the perpendicular bisector of corner and centre) must be a chain of edges."""
    points, elements = cloth_mesh(n, 0.03)
    xy = np.array(points)[:, :2]
    edges = {frozenset(pair) for a, b, c in elements for pair in ((a, b), (b, c), (c, a))}
    assert len(elements) == 2 * (n - 1) ** 2 and xy[(n * n) // 2] == pytest.approx([0.0, 0.0])
    for corner in (0, n - 1, n * (n - 1), n * n - 1):
        direction = -xy[corner] / np.linalg.norm(xy[corner])
        offset = (xy - xy[corner] / 2) @ direction  # signed distance from the crease
        on_crease = np.flatnonzero(np.abs(offset) < 1e-9)
        assert len(on_crease) == (n + 1) // 2  # from edge to edge of the towel
        ordered = sorted(on_crease, key=lambda k: float(xy[k] @ [-direction[1], direction[0]]))
        assert all(frozenset(pair) in edges for pair in pairwise(ordered))
        for a, b, c in elements:  # and no triangle straddles it
            sides = np.sign(np.round(offset[[a, b, c]], 9))
            assert not (sides.max() > 0 and sides.min() < 0)
