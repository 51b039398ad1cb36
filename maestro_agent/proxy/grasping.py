"""``grasping``: plan grasps on a detected object and execute them (approach, close, lift)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from transforms3d.euler import mat2euler

from maestro_agent.proxy.hand_views import HandViews
from maestro_agent.proxy.harness import Harness, retry, show, tool
from maestro_agent.proxy.perception import Perception
from maestro_agent.proxy.registry import register_tool
from maestro_agent.proxy.robot import Robot
from maestro_agent.proxy.ros_client import RosClient
from maestro_agent.proxy.types import GraspCandidate, GripperState
from maestro_msgs.srv import PlanGrasp
from maestro_tools.common import render
from maestro_tools.common.conversions import pose_to_matrix
from maestro_tools.common.errors import (
    CollisionError,
    GraspFailedError,
    InvalidArgumentError,
    MaestroError,
    NotFoundError,
    StalledError,
    UnreachableError,
)
from maestro_tools.grasping.parts import PART_STRATEGIES, pregrasp_opening

STRATEGIES = ("top_down", "tilted", "antipodal", *PART_STRATEGIES)
SQUEEZE_SHORT = 0.015  # m short of a squeezing grasp (as wide as the opening) at which the fingers close
ALL_GRASPS = 100  # what the planner is asked for when the candidates are filtered by strategy here
LABELLED = 4  # candidates labelled in the drawing (more overlap); the rest are outlines in their colour


def to_candidate(message: object) -> GraspCandidate:
    pose = pose_to_matrix(message.pose)
    return GraspCandidate(
        position=pose[:3, 3].copy(),
        orientation=np.array(mat2euler(pose[:3, :3], "sxyz")),
        rotation=pose[:3, :3].copy(),
        width=float(message.width),
        score=float(message.score),
        strategy=message.strategy,
        label=message.object_label,
        reachable=bool(message.reachable),
    )


class Grasping(HandViews):
    """Grasp planning (top-down, tilted, antipodal, and part grasps: rim, handle, flat, cloth_corner;
    filtered by reachability and collision) and execution."""

    module = "grasping"

    def __init__(self, ros: RosClient | None, harness: Harness, robot: Robot, perception: Perception) -> None:
        self._ros, self._harness, self._robot, self._perception = ros, harness, robot, perception
        if ros is not None:
            self._plan_grasp = ros.service(PlanGrasp, "plan_grasp")

    def _plan_in(
        self, label: str, camera: str, max_grasps: int, strategy: str, near: np.ndarray | None = None
    ) -> list[GraspCandidate]:
        found = self._perception._find([label], camera, masks=True)
        detection = found[0] if near is None else min(found, key=lambda d: _distance(d, near))
        asked = ALL_GRASPS if strategy else max_grasps
        request = PlanGrasp.Request(detection=detection, max_grasps=asked, check_reachability=True)
        response = self._ros.call(self._plan_grasp, request, self._harness.service_timeout_s)
        candidates = [to_candidate(g) for g in response.grasps]
        if strategy:
            offered = sorted({c.strategy for c in candidates})
            candidates = [c for c in candidates if c.strategy == strategy][:max_grasps]
            if not candidates:
                raise NotFoundError(
                    f"no reachable {strategy} grasp on {label} in the {detection.camera} camera; the planner "
                    f"offered: {', '.join(offered) or 'nothing'}"
                )
        if self._harness.renders and candidates:
            frame = self._ros.frame(detection.camera)
            kinds = ", ".join(f"{sum(c.strategy == k for c in candidates)} {k}" for k in _kinds(candidates))
            show(
                f"grasps on {label} ({detection.camera} camera): {kinds}; the best {LABELLED} labelled",
                render.draw_grasps(
                    frame.rgb,
                    [_matrix(c) for c in candidates],
                    [c.width for c in candidates],
                    frame.intrinsics,
                    frame.camera_pose,
                    [
                        f"{k}: {c.strategy} {c.score:.2f}" if k < LABELLED else ""
                        for k, c in enumerate(candidates)
                    ],
                    [render.strategy_colour(c.strategy, k) for k, c in enumerate(candidates)],
                ),
            )
        return candidates

    @tool("grasping")
    def plan(
        self, label: str, camera: str = "", max_grasps: int = 4, strategy: str = "", near: Any = None
    ) -> list[GraspCandidate]:
        """Ranked grasps (best first) for the object ``label`` seen in ``camera``; each has the gripper
        position, orientation, opening width and ``strategy``, the kind of grasp: "top_down" (across a box
        that fits the gripper), "tilted" (the same from above at 30-60 deg, reaching over the object's near
        side, on robots whose arm cannot point straight down there, e.g. at a table top), "antipodal",
        "rim" (a pinch of a cup's, mug's or bowl's wall at its rim, fingers across the wall: for hollow
        objects wider than the gripper), "handle" (across a handle sticking out of the body), "flat" (low,
        across the narrow side of a flat object such as an eraser), "cloth_corner" (a low pinch just inside
        a corner of a towel or cloth; grasp it with about 20 N). ``strategy`` keeps only that kind (empty:
        all, best first); NotFoundError names the kinds the object offers. ``near`` (a base-frame position):
        of several objects with this label, the one nearest it (one of two identical bowls: plan("black
        bowl", near=bowl.position)). They are drawn on the camera image for you, each kind in its own colour
        and labelled "index: strategy score"."""
        if not isinstance(label, str) or not label.strip():
            raise InvalidArgumentError("label must name the object, e.g. 'tennis ball'")
        if not 1 <= int(max_grasps) <= 20:
            raise InvalidArgumentError(f"max_grasps must be 1..20; got {max_grasps}")
        if strategy not in ("", *STRATEGIES):
            raise InvalidArgumentError(
                f"strategy must be empty (all kinds) or one of {', '.join(STRATEGIES)}; got {strategy!r}"
            )
        at = None if near is None else self._harness.check_position(near, "near")
        camera = self._harness.check_camera(camera)
        order = [camera, *(c for c in self._harness.robot.camera_names if c != camera)]
        return retry(
            self._harness.tries,
            lambda k: self._plan_in(label, order[k % len(order)], int(max_grasps), strategy, at),
        )

    @tool("grasping")
    def execute(
        self, grasp: GraspCandidate, approach_distance: float = 0.1, lift: float = 0.15, opening: float = 0.0
    ) -> GripperState:
        """Open, move to ``approach_distance`` before the grasp along its approach, move in, grasp, and lift
        by ``lift`` metres (a tilted grasp: back out along its approach, rising lift * cos(tilt)). Part
        grasps (rim, handle, flat, cloth_corner) open only a little wider than the part, so a finger fits
        inside a cup; ``opening`` (metres, 0: that default) opens wider or narrower, e.g. fully for the rim
        of a wide, shallow bowl, where a finger landed on the rim. Fingers held back on the way in (a soft
        toy as wide as the opening, squeezed) close where they are, up to 1.5 cm short. Raises
        GraspFailedError when the gripper closed on nothing."""
        if not isinstance(grasp, GraspCandidate):
            raise InvalidArgumentError("grasp must be one of the candidates grasping.plan() returned")
        if not 0.0 <= approach_distance <= 0.3 or not 0.0 <= lift <= 0.4:
            raise InvalidArgumentError("approach_distance must be 0..0.3 m and lift 0..0.4 m")
        self._approach(grasp, approach_distance, self._check_opening(opening))
        return self._close_on(grasp, lift)

    def _check_opening(self, opening: Any) -> float:
        widest = self._harness.robot.gripper.max_width
        try:
            value = float(opening)
        except (TypeError, ValueError):
            value = float("nan")
        if not 0.0 <= value <= widest:
            raise InvalidArgumentError(
                f"opening must be 0..{widest} m (0: the grasp's default); got {opening!r}"
            )
        return value

    def _approach(self, grasp: GraspCandidate, approach_distance: float, opening: float = 0.0) -> None:
        """Open (``opening``, else part-way for a part grasp, so a finger fits inside a cup) and move
        before the grasp."""
        self._robot.open_gripper()
        gripper = self._harness.robot.gripper
        opening = opening or pregrasp_opening(grasp.strategy, grasp.width, gripper.max_width)
        if opening < gripper.max_width:
            self._robot.open_gripper(opening)
        self._robot.move_gripper_to(grasp.position - grasp.approach * approach_distance, grasp.orientation)

    def _close_on(self, grasp: GraspCandidate, lift: float) -> GripperState:
        """From before the grasp: move in, grasp and lift."""
        try:
            self._robot.move_gripper_to(grasp.position, grasp.orientation, path="line", speed=0.5)
        except StalledError:  # held back nearly in (an object as wide as the opening, a finger on a rim):
            where = self._robot.get_state().position  # close there; the grasp check judges what is held
            if np.linalg.norm(where - grasp.position) > SQUEEZE_SHORT:
                raise
        # The planner's width has 1 cm of clearance around the object: the fingers should stop near the rest.
        state = self._robot.grasp(expected_width=max(grasp.width - 0.01, 0.001))
        if lift > 0:
            self._lift(grasp, lift)
        return state

    def _lift(self, grasp: GraspCandidate, lift: float) -> None:
        """Raise what was just grasped: a tilted grasp backs out along its approach (the way in, which the
        arm reaches); where the arm's limits refuse that, straight up, then half as far. A straight lift
        that would bring what is held against something seen (a bowl lifted past a cabinet's handle) is
        planned around it instead."""
        up = np.array([0.0, 0.0, 1.0])
        ways = [-grasp.approach, up] if grasp.strategy == "tilted" else [up]
        refusals = []
        for amount in (lift, lift / 2):
            for way in ways:
                try:
                    try:
                        self._robot.move_gripper_by(list(way * amount))
                    except CollisionError as blocked:
                        refusals.append(str(blocked))
                        self._robot.move_gripper_by(list(way * amount), path="auto")
                    return
                except (UnreachableError, CollisionError) as exc:
                    refusals.append(str(exc))
        raise UnreachableError(
            f"the object is held, but no lift of {lift} m or half that is reachable from here ("
            f"{refusals[0]}); move it with robot.move_gripper_to to a pose nearer the robot"
        )

    @tool("grasping")
    def release(self, opening: float = 0.0, retreat: float = 0.1) -> GripperState:
        """Let go of what the gripper holds: open to ``opening`` metres (0: fully; a little wider than the
        object's wall or handle when a finger is inside a cup, so it does not hit the far side), then back
        off ``retreat`` metres against the approach (up, after a grasp from above)."""
        gripper = self._harness.robot.gripper
        if not 0.0 <= opening <= gripper.max_width or not 0.0 <= retreat <= 0.3:
            raise InvalidArgumentError(
                f"opening must be 0..{gripper.max_width} m (0: fully) and retreat 0..0.3 m; "
                f"got {opening}, {retreat}"
            )
        state = self._robot.open_gripper(opening or None)
        if retreat > 0:
            approach = self._robot.get_state().rotation[:, 2]
            self._robot.move_gripper_by(list(-approach * retreat))
        return state

    @tool("grasping")
    def pick(
        self, label: str, lift: float = 0.15, strategy: str = "", near: Any = None, opening: float = 0.0
    ) -> GripperState:
        """Pick up ``label``: plan from the detection camera (on a robot with a look pose, from the hand
        camera raised to it: perception.look; where none of those sees it, the detection camera; with the
        harness, a floor toy the semantic map remembers within reach, or one the first camera does not see
        at ``near``: from the hand camera pointed at it),
        move above it (back along a tilted grasp's approach), re-plan from the close hand camera view,
        grasp and lift; ``strategy`` and ``near`` as in plan() (e.g. "rim" for a mug), ``opening`` as in
        execute(). With the harness on, a miss is retried with a fresh detection and the next grasp."""
        opening = self._check_opening(opening)
        robot = self._harness.robot
        hand = robot.hand_camera
        first_camera = hand if robot.arm.look_poses else robot.detection_camera
        missed: list[np.ndarray] = []  # closing axes of the grasps that missed: the next try turns

        def attempt(k: int) -> GripperState:
            camera = first_camera
            low = self._remembered_low(label)
            if low is not None and self._look_at(low, label):  # a floor toy the map remembers within reach
                camera = hand
            elif robot.arm.look_poses:
                try:
                    self._perception.look(label)
                except NotFoundError:  # out of the look poses' view (a floor toy by the body): the head's
                    camera = robot.detection_camera
            try:
                candidates = self.plan(label, camera, strategy=strategy, near=near)
            except NotFoundError:  # out of its sight where ``near`` says it lies (behind a basket, from the
                # scene camera): with the harness, the hand camera looks down at that spot
                if camera == hand or not self._look_near(near, label):
                    raise
                candidates = self.plan(label, hand, strategy=strategy, near=near)
            self._robot.open_gripper()
            self._move_above(candidates[min(k, len(candidates) - 1) :])
            try:
                close = self.plan(label, hand, strategy=strategy, near=near)
            except MaestroError:
                close = []
            # The close view's grasps first, then the first view's (another side of the object, which the
            # close view may not offer: cream cheese beside a can had one hand-camera grasp, refused).
            ranked = [*close[min(k, len(close) - 1) :], *candidates[min(k, len(candidates) - 1) :]]
            return self._grasp_first_reached(_across_other_sides(ranked, missed), lift, opening, missed)

        return retry(self._harness.tries, attempt, retry_on=(GraspFailedError,))

    def _grasp_first_reached(
        self,
        candidates: Sequence[GraspCandidate],
        lift: float,
        opening: float = 0.0,
        missed: list[np.ndarray] | None = None,
    ) -> GripperState:
        """Execute the first of ``candidates`` the arm reaches and the motion finds clear (the planner's
        IK and the motion's can disagree by a few mm at the edge of reach, and the motion keeps 1.5 cm
        from what is beside the object where the planner checks the gripper's own volume: the arm has
        not moved when one is refused); a miss adds its closing axis to ``missed``."""
        for n, candidate in enumerate(candidates):
            try:
                self._approach(candidate, 0.0, opening)
            except (UnreachableError, CollisionError):
                if n == len(candidates) - 1:
                    raise
                continue
            except StalledError:  # held back on the way in (a finger on the object): _close_on judges it
                pass
            try:
                return self._close_on(candidate, lift)
            except GraspFailedError:
                if missed is not None:
                    missed.append(candidate.rotation[:, 1])
                self._robot.open_gripper()
                self._robot.move_gripper_by([0.0, 0.0, 0.1])
                raise
        raise NotFoundError("no grasp candidates to execute")


register_tool(
    "grasping",
    ("arm", "gripper", "cameras"),
    lambda ros, harness, built: Grasping(ros, harness, built["robot"], built["perception"]),
    group="S2",
)


def _distance(detection: object, near: np.ndarray) -> float:
    position = detection.pose.position
    return float(np.linalg.norm(np.array([position.x, position.y, position.z]) - near))


def _across_other_sides(
    candidates: Sequence[GraspCandidate], missed: Sequence[np.ndarray]
) -> list[GraspCandidate]:
    """``candidates`` closing across other sides than the grasps that ``missed`` first (within 30 deg of
    a missed closing axis: after; a milk carton's gable squeezes the fingers shut across one side only)."""
    return sorted(candidates, key=lambda c: any(abs(float(c.rotation[:, 1] @ m)) > 0.87 for m in missed))


def _kinds(candidates: Sequence[GraspCandidate]) -> list[str]:
    """The strategies among ``candidates``, in order of first appearance."""
    return list(dict.fromkeys(c.strategy for c in candidates))


def _matrix(candidate: GraspCandidate) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = candidate.rotation, candidate.position
    return pose


__all__: Sequence[str] = ["Grasping", "to_candidate"]
