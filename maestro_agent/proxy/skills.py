"""``skills``: composite manipulation skills built on ``robot`` and ``perception``.

Each skill perceives, moves through the robot tool (so every motion passes the actuation gate and
the harness's checks), checks what it did by perceiving again and raises the tools' typed errors.
``turn`` reorients an object by tipping it over in the hand (regrasping between tips of 90 degrees);
``fold_corner`` pinches a cloth corner at its tip with a light force and lays it along an arc onto a point;
``push`` slides an object along the table with the closed fingers.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

import numpy as np
from transforms3d.axangles import axangle2mat
from transforms3d.euler import mat2euler

from maestro_agent.proxy.hand_geometry import finger_reach, fingertips, hand_underside
from maestro_agent.proxy.hand_geometry import size_along as _size_along
from maestro_agent.proxy.hand_geometry import top_down as _top_down
from maestro_agent.proxy.hand_geometry import unit as _unit
from maestro_agent.proxy.harness import Harness, tool
from maestro_agent.proxy.perception import Perception
from maestro_agent.proxy.push import (
    MAX_DISTANCE,
    PUSH_OPENING,
    PUSH_ROUNDS,
    PUSH_TOLERANCE,
    STROKE,
    check_distance,
    horizontal,
    push_plan,
)
from maestro_agent.proxy.registry import register_tool
from maestro_agent.proxy.robot import Robot
from maestro_agent.proxy.types import Detection, FoldResult, Keypoint, PushResult, TurnResult
from maestro_tools.common.errors import (
    CollisionError,
    GraspFailedError,
    InvalidArgumentError,
    MaestroError,
    StalledError,
    UnreachableError,
)

TARGETS = {
    "up": np.array([0.0, 0.0, 1.0]),
    "front": np.array([-1.0, 0.0, 0.0]),  # towards the robot
    "back": np.array([1.0, 0.0, 0.0]),
    "left": np.array([0.0, 1.0, 0.0]),
    "right": np.array([0.0, -1.0, 0.0]),
}
PINCH_OPENING = 0.06  # m between the pads as they go down astride the corner, along the fold
PINCH_OVERHANG = 0.012  # m the outer pad lands beyond the corner's tip, on the table
PINCH_PRESS = 0.002  # m below the table top the fingertips are sent: they stop pressing on table and cloth
FOLD_BACKOFF = 0.04  # m the open fingers slide on along the fold before rising out of the folded flap
CLOTH_HALF_THICKNESS = 0.004  # m from a cloth point (its mid-surface) down to what it lies on
LAID = 0.012  # m the pinch ends above the flat cloth: the folded flap's two layers under the tips
DONE_DEG = 25.0  # a part within this of its target direction counts as turned
MAX_TURNS = 3  # tips and twists per turn() call (face down -> up takes two tips)
GRASP_TILT = 0.5  # of a tip's angle, the grasp is tilted back (the rest is the tilt at the release)
LIFT = 0.15  # m the object is lifted before it is turned in the air
TABLE_CLEARANCE = 0.006  # m between the hand's lowest point and the table top when releasing
DROP = 0.006  # m between the turned object's bottom and the table when it is released


@dataclass(frozen=True)
class _TurnPlan:
    label: str
    width: float  # m, the object across the fingers
    position: np.ndarray  # TCP at the grasp
    grasp: np.ndarray  # hand rotation at the grasp
    turned: np.ndarray  # hand rotation after the turn
    release: np.ndarray  # TCP where the turned object is let go

    @property
    def easy(self) -> bool:
        """The turned hand's x axis points up: its wrist stays above it (measured on the Panda)."""
        return bool(self.turned[2, 0] > 0.0)


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(_unit(a), _unit(b)), -1.0, 1.0))))


def _sideways(hand: np.ndarray, position: np.ndarray) -> np.ndarray:
    """The smaller turn about the vertical that points the hand's approach across the line from the
    robot's base to ``position`` (pointing away from or back to the base, the arm may not reach it low)."""
    approach = hand[:, 2]
    radial = np.arctan2(position[1], position[0])
    heading = np.arctan2(approach[1], approach[0])
    turns = [(radial + side - heading + np.pi) % (2 * np.pi) - np.pi for side in (np.pi / 2, -np.pi / 2)]
    return axangle2mat([0.0, 0.0, 1.0], min(turns, key=abs))


def _point(value: Sequence[float] | np.ndarray | Keypoint, what: str) -> np.ndarray:
    if isinstance(value, Keypoint):
        value = value.position
    try:
        point = np.asarray(value, dtype=float).reshape(3)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"{what} must be [x, y, z] in metres or a Keypoint; got {value!r}"
        ) from None
    if not np.isfinite(point).all():
        raise InvalidArgumentError(f"{what} has NaN or infinite values (no depth there?): {point.tolist()}")
    return point


class Skills:
    """Composite skills: each perceives, moves, checks its result and raises the tools' errors."""

    module = "skills"

    def __init__(self, harness: Harness, robot: Robot, perception: Perception) -> None:
        self._harness, self._robot, self._perception = harness, robot, perception
        self._volumes = np.array(
            [
                [(x, y, z) for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
                for lo, hi in harness.robot.gripper.volumes
            ]
        ).reshape(-1, 3)  # the hand's box corners in the TCP frame

    # -- turn --------------------------------------------------------------------------------------
    def _normals(self, label: str, part: str) -> list[tuple[str, np.ndarray]]:
        centre = self._perception.locate(label).position
        points = self._perception.point(f"the {part} of the {label}", max_points=4)
        return [(p.label, _unit(p.position - centre)) for p in points if np.isfinite(p.position).all()]

    @tool("manipulation")
    def turn(self, label: str, part: str, to: str = "up") -> TurnResult:
        """Reorient the object ``label`` so that its ``part`` (e.g. "purple face", "handle", "label")
        faces ``to``: "up", "front" (towards the robot), "back", "left" or "right". The part is found with
        perception.point; the object is grasped with the fingers across the axis it must turn about,
        lifted, turned in the air by up to 90 degrees (a tip over, or a twist about the vertical),
        lowered close to the table and released; then it is seen again, and regrasped for another turn
        when one was not enough (a part facing down takes two). Returns the part's new direction and its
        error. Raises GraspFailedError if the object is too wide to hold across that axis or slips,
        UnreachableError for a turn the arm cannot make, NotFoundError if the object or part is not seen."""
        if to not in TARGETS:
            raise InvalidArgumentError(f"unknown direction to={to!r}; valid: {', '.join(TARGETS)}")
        if not isinstance(part, str) or not part.strip() or not isinstance(label, str) or not label.strip():
            raise InvalidArgumentError(
                "label and part must name the object and its part, e.g. 'cube', 'purple face'"
            )
        target = TARGETS[to]
        turns = 0
        while True:
            detection = self._perception.locate(label)
            faces = self._normals(label, part)
            if not faces:
                raise MaestroError(f"no 3D point found for the {part} of the {label}")
            # The face nearest its target; of near ties, the one whose turn the wrist makes most easily.
            plans = [(_angle(n, target), name, n, self._plan(detection, n, target)) for name, n in faces]
            best = min(p[0] for p in plans)
            error, name, normal, plan = min(
                (p for p in plans if p[0] <= best + 10.0), key=lambda p: (not p[3].easy, p[0])
            )
            if error <= DONE_DEG or turns >= MAX_TURNS:
                return TurnResult(
                    label, name, normal, target, error, error <= DONE_DEG, turns, detection.position
                )
            self._execute(plan)
            turns += 1

    def _plan(self, detection: Detection, normal: np.ndarray, target: np.ndarray) -> _TurnPlan:
        """How to grasp, turn in the air (by at most 90 degrees) and release the object once."""
        axis = np.cross(normal, target)
        if abs(normal[2]) < 0.7 and abs(target[2]) < 0.5:  # side face to a side: twist about the vertical
            axis = np.array([0.0, 0.0, np.sign(axis[2]) or 1.0])
            flat = [_unit(np.array([*normal[:2], 0.0])), target]
            angle = np.radians(min(_angle(*flat), 90.0))
            finger = detection.rotation[:, int(np.argmin(np.abs(detection.rotation[2, :2])))]
            finger = np.cross([0.0, 0.0, 1.0], flat[0]) if _size_along(detection, flat[0]) < 0.07 else finger
        else:  # tip over about a horizontal axis; the fingers close along it
            if np.linalg.norm(axis) < 0.3:  # facing away from the target: tip about a side axis first
                side = detection.rotation[:, int(np.argmin(np.abs(detection.rotation.T @ normal)))]
                axis = np.cross(normal, side)
            axis = _unit(np.array([axis[0], axis[1], 0.0]))
            angle = np.radians(min(_angle(normal, target), 90.0))
            finger = axis
        gripper = self._harness.robot.gripper
        turn = axangle2mat(axis, angle)
        grasp = _top_down(finger)
        if finger is axis:  # a tip: grasp tilted back by part of the turn: neither end is flat
            grasp = axangle2mat(axis, -angle * GRASP_TILT) @ grasp
            if target[2] > 0.9:  # the object may also spin about the vertical: end pointing sideways
                turn = _sideways(turn @ grasp, detection.position) @ turn
        top = detection.position[2] + _size_along(detection, np.array([0.0, 0.0, 1.0])) / 2
        position = detection.position.copy()
        position[2] = max(position[2], top - gripper.finger_depth, self._above_table(grasp))
        turned = turn @ grasp
        # Where the object's centre and bottom end up in the turned hand.
        offset = grasp.T @ (detection.position - position)
        half_height = float(np.sum(np.abs((turn @ detection.rotation)[2]) * detection.extent)) / 2
        release = position.copy()
        release[2] = half_height + DROP - (turned @ offset)[2]
        release[2] = max(release[2], self._above_table(turned))
        # Across the fingers: the object's side nearest the finger axis (a box seen askew looks wider).
        width = float(detection.extent[int(np.argmax(np.abs(detection.rotation.T @ finger)))])
        return _TurnPlan(detection.label, width, position, grasp, turned, release)

    def _above_table(self, hand: np.ndarray) -> float:
        """The lowest TCP height at which the hand turned by ``hand`` stays clear of the table."""
        return TABLE_CLEARANCE - float(np.min((self._volumes @ hand.T)[:, 2]))

    def _execute(self, plan: _TurnPlan) -> None:
        gripper = self._harness.robot.gripper
        if plan.width > gripper.max_width - 0.002:
            raise GraspFailedError(
                f"the {plan.label} is {plan.width * 100:.1f} cm wide across the axis it must turn about; "
                f"the gripper opens {gripper.max_width * 100:.0f} cm: turn it another way first"
            )
        robot, grasp, turned = self._robot, mat2euler(plan.grasp, "sxyz"), mat2euler(plan.turned, "sxyz")
        robot.open_gripper()
        robot.move_gripper_to(plan.position + [0.0, 0.0, 0.12], grasp)
        robot.move_gripper_to(plan.position, grasp, path="line", speed=0.5)
        robot.grasp(expected_width=plan.width)
        lifted = plan.position + [0.0, 0.0, LIFT]
        with suppress(StalledError):  # a lift that ends a few millimetres short is high enough
            robot.move_gripper_to(lifted, None, path="line", speed=0.5)
        try:
            robot.move_gripper_to(lifted, turned, speed=0.5)
        except UnreachableError:  # from the grasping posture the solver may not find it: from home
            robot.move_home()
            robot.move_gripper_to(lifted, turned, speed=0.5)
        robot.move_gripper_to(plan.release, None, path="line", speed=0.3)
        robot.open_gripper()
        back = plan.release - plan.turned[:, 2] * 0.08  # out along the approach, then up
        with suppress(StalledError):  # backing off: a few millimetres short is clear enough
            robot.move_gripper_to(back, None, path="line", speed=0.5)
            robot.move_gripper_by([0.0, 0.0, 0.12])

    # -- fold ----------------------------------------------------------------------------------------
    @tool("manipulation")
    def fold_corner(
        self,
        corner: Sequence[float] | Keypoint,
        onto: Sequence[float] | Keypoint,
        force: float = 10.0,
        height: float | None = None,
        check: str = "",
    ) -> FoldResult:
        """Fold a cloth corner over the cloth onto a point: pinch the ``corner`` (a point or Keypoint, e.g.
        from perception.point("the front left corner of the towel")) at its tip, the fingers opened 6 cm
        and closing along the fold direction (the fingertips pressed on the table, the outer pad 1.2 cm
        beyond the tip, the inner one on the cloth, gathering the tip between them) with ``force`` newtons
        (light, so as not to squeeze through the cloth), lift it, carry it along an arc (as high as
        ``height``, default half the distance) over the cloth until the pinch is over ``onto`` (e.g. the
        cloth's centre), lay it down, release, slide on 4 cm along the fold and back off upwards. The
        pinch is laid down just above ``onto``'s height: give the top of what already lies there (e.g.
        corners folded before) so the fingers do not bury themselves in it. ``check``: a description for
        perception.point that finds the corner again afterwards ("" = where the gripper released it).
        Returns where the corner ended and its horizontal distance from ``onto``. Raises GraspFailedError
        when the pinch closed on nothing, ObjectDroppedError when the corner slipped out on the way."""
        start, goal = _point(corner, "corner"), _point(onto, "onto")
        gripper = self._harness.robot.gripper
        if not 0.0 < float(force) <= gripper.max_force:
            raise InvalidArgumentError(f"force must be in (0, {gripper.max_force:g}] N; got {force}")
        span = goal[:2] - start[:2]
        distance = float(np.linalg.norm(span))
        if distance < 0.02:
            raise InvalidArgumentError(
                f"the corner is already {distance * 100:.1f} cm from onto; nothing to fold"
            )
        rise = distance / 2 if height is None else float(height)
        if not 0.01 <= rise <= 0.4:
            raise InvalidArgumentError(f"height must be 0.01..0.4 m; got {height}")
        direction = np.array([*(span / distance), 0.0])
        # The pads close along the fold, astride the tip: the inner one drags only the tip's strip of cloth
        # against the outer one. Closing across the fold (tried before) gathered the pads' whole 8 cm span
        # into a bunch that stood up where it was laid, and later folds dragged it off (fold_towel 50).
        # The fingertips (1 cm past the TCP) press down on the table: the inner pad then drags the cloth
        # under it (measured on the nominal towel: sent 1 mm above the table, about 1 pinch in 2 slid over
        # the cloth and closed on nothing, at 3-20 N alike; 4 mm above, all 4; 2 mm below, none of 4).
        tip = fingertips(self._harness.robot.gripper.volumes)
        inset = PINCH_OPENING / 2 - PINCH_OVERHANG  # the pinch's centre inside the corner
        hand = mat2euler(_top_down(direction), "sxyz")
        pinch = start + direction * inset
        floor = max(start[2] - CLOTH_HALF_THICKNESS, 0.0) + tip  # the TCP with the tips on the table
        pinch[2] = floor - PINCH_PRESS
        robot = self._robot
        robot.open_gripper(PINCH_OPENING)
        robot.move_gripper_to(pinch + [0.0, 0.0, 0.08], hand)
        with suppress(StalledError):  # the pads stop on the table and the cloth: pinch there
            robot.move_gripper_to(pinch, hand, path="line", speed=0.3, contact=True)
        robot.grasp(force=float(force))
        # The pinch swings over the fold line on a half ellipse to above onto (measured, with the pinch
        # 2.5 cm inside the corner: one stopped at its mirror image, inset short of onto, left the corner
        # 2-4 cm short, beside the cloth's middle rather than on it).
        # It ends a doubled cloth above onto: over a pile there (earlier corners), fingers that open inside
        # the pile catch it and lift it off again (measured: a third corner left hanging 9 cm up).
        travel = max(distance - inset, 0.0)
        laid = max(floor + 0.001 + LAID, goal[2] + tip + LAID - CLOTH_HALF_THICKNESS)
        waypoints = []
        for t in np.linspace(0.0, np.pi, 7)[1:]:
            point = pinch + direction * travel * (1 - np.cos(t)) / 2
            point[2] = pinch[2] + max(rise * np.sin(t), 0.0) + (laid - pinch[2]) * (1 - np.cos(t)) / 2
            waypoints.append((point, hand))
        # The flap drags over the cloth it is laid on: a move meant to touch.
        robot.move_gripper_to(pinch + [0.0, 0.0, 0.02], hand, path="line", speed=0.3, contact=True)
        robot.move_gripper_along(waypoints, speed=0.4, contact=True)
        robot.open_gripper()
        # Out of the flap forwards, then up: fingers rising straight out of the gathered flap lifted it past
        # upright and it fell back open (measured: a second corner laid 1.4 cm from the centre sprang back
        # 6 cm); slid on along the fold first, what they catch is pushed onto the fold, not back.
        with suppress(StalledError):  # pushing into the pile there: out far enough
            robot.move_gripper_by([*(direction[:2] * FOLD_BACKOFF), 0.005], speed=0.3)
        robot.move_gripper_by([0.0, 0.0, 0.08])
        end = waypoints[-1][0] - [0.0, 0.0, tip]
        if check:
            end = self._perception.point(check)[0].position
        return FoldResult(start, end, goal, float(np.linalg.norm(end[:2] - goal[:2])))

    # -- push ----------------------------------------------------------------------------------------
    @tool("manipulation")
    def push(
        self,
        label: str,
        direction: Sequence[float],
        distance: float = 0.05,
        near: Sequence[float] | None = None,
    ) -> PushResult:
        """Slide the object ``label`` (the one nearest ``near`` [x, y, z] when several are seen) along what
        it stands on by ``distance`` metres (0.01..0.15) in the horizontal ``direction`` [dx, dy] (base
        frame): to make room around it (e.g. a grasp refused because the hand would hit a tall neighbour:
        push it along its long side, away from the neighbour, then pick it) or to move what cannot be
        lifted. The fingers shut (to 4 mm), go down beside the object on the side away from ``direction``,
        low, with the hand's narrow side across the path, and push in strokes of 3 cm (the camera looks
        again before each); where the object lags more than 1 cm behind, they push on from where it is
        seen then, as much further as it lagged (at most three pushes). Returns where it was and is now
        seen, and how far it moved along ``direction``. Raises CollisionError when the fingers cannot go
        down beside it (no room there: push another way), StalledError when it does not give way,
        NotFoundError if it is not seen."""
        if near is not None:
            near = _point(near, "near")
        first = self._nearest(label, near)
        way = horizontal(direction)
        check_distance(distance)
        now, moved, lag = first, 0.0, 0.0
        for _ in range(PUSH_ROUNDS):
            left = float(distance) - moved
            if left < PUSH_TOLERANCE:
                break
            # The object lags the fingers by as much again as last time (its face seen nearer than it is,
            # fingers thinner than their box): push on from where it is seen now, that much further.
            asked = min(left + lag, MAX_DISTANCE)
            self._push_once(now, way, max(asked, 0.01))
            before, now = now, self._nearest(label, now.position + way * left)
            step = float((now.position - before.position) @ way)
            moved, lag = moved + step, max(asked - step, 0.0)
        return PushResult(first.label, first.position, now.position, moved)

    def _push_once(self, detection: Detection, way: np.ndarray, distance: float) -> None:
        volumes, gripper = self._harness.robot.gripper.volumes, self._harness.robot.gripper
        reach = finger_reach(volumes, gripper.max_width, PUSH_OPENING)
        plan = push_plan(detection, way, distance, fingertips(volumes), reach, hand_underside(volumes))
        hand = mat2euler(plan.hand, "sxyz")
        robot = self._robot
        robot.open_gripper(PUSH_OPENING)  # nearly closed, by position: closing on nothing may read as holding
        robot.move_gripper_to(plan.start + [0.0, 0.0, 0.08], hand)
        try:
            with suppress(StalledError):  # the fingertips on the table a few millimetres high: push there
                robot.move_gripper_to(plan.start, hand, path="line", speed=0.3, contact=True)
            low = float(robot.get_state().position[2])
            if low > plan.start[2] + plan.give:  # on something: its top, or another object beside it
                raise CollisionError(
                    f"the fingers stopped {(low - plan.start[2]) * 100:.1f} cm above where they push beside "
                    f"the {detection.label}: something is in the way there; push it another way"
                )
            for end in plan.strokes:
                try:
                    robot.move_gripper_to(end, hand, path="line", speed=0.2, contact=True, max_depth=0.04)
                except StalledError:  # held back by what it pushes: going on unless it stopped early
                    if float(np.linalg.norm(end - robot.get_state().position)) > STROKE / 2:
                        raise
        finally:
            robot.move_gripper_by([0.0, 0.0, 0.08])

    def _nearest(self, label: str, near: np.ndarray | None) -> Detection:
        seen = self._perception.detect([label])
        if near is None:
            return seen[0]
        return min(seen, key=lambda d: float(np.linalg.norm(d.position - near)))


register_tool(
    "skills",
    ("arm", "gripper", "cameras"),
    lambda ros, harness, built: Skills(harness, built["robot"], built["perception"]),
    group="S2",
)

__all__ = ["Skills"]
