"""From a motion request to joint waypoints: straight lines where they are free, planned paths where not.

``cloud`` is what a camera at ``viewpoint`` saw (base frame, support surfaces removed); see
``motion.obstacles``.

Plain Python (no ROS): ``ArmKinematics`` solves IK and straight Cartesian lines, ``JointSpacePlanner``
checks configurations (support surfaces, self-collision, the observed scene) and plans with OMPL. Path modes
follow MoveArm: AUTO takes the straight line unless it is unreachable or collides, then plans;
CARTESIAN fails on a blocked line; PLANNED always plans. ``contact_depth`` (contact on purpose) lets the
hand, the fingers and what they hold touch the scene up to that depth. Refusals name what the path would
hit (a support surface, the arm itself, or a seen object and its point) and how far along it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from maestro_tools.common.errors import CollisionError, UnreachableError
from maestro_tools.motion.kinematics import ArmKinematics
from maestro_tools.motion.obstacles import HeldVolume
from maestro_tools.motion.planner import JointSpacePlanner

AUTO, CARTESIAN, PLANNED = 0, 1, 2  # MoveArm.Goal.PATH_*


@dataclass
class PlannedMotion:
    start: np.ndarray  # joint positions the motion starts from
    waypoints: list[np.ndarray] = field(default_factory=list)  # joint positions, start excluded
    segment_ends: list[int] = field(default_factory=list)  # waypoint count at the end of each target
    planned_segments: int = 0  # segments that needed OMPL
    obstacle_points: int = 0  # scene points the last segment avoided
    note: str = ""  # what the plan could not take into account

    def extend(self, segment: list[np.ndarray], planned: bool) -> None:
        self.waypoints.extend(segment)
        self.segment_ends.append(len(self.waypoints))
        self.planned_segments += int(planned)


def _where(target: np.ndarray) -> list[float]:
    return np.round(target[:3, 3], 3).tolist()


CONTACT_HINT = "; if touching is meant (wiping, pushing, pressing), move with contact on"


class PathBuilder:
    def __init__(self, kinematics: ArmKinematics, planner: JointSpacePlanner) -> None:
        self.kinematics, self.planner = kinematics, planner

    def to_poses(
        self,
        start: np.ndarray,
        targets: list[np.ndarray],
        path: int,
        cloud: np.ndarray | None = None,
        held: HeldVolume | None = None,
        viewpoint: np.ndarray | None = None,
        contact_depth: float | None = None,
        others: Sequence[tuple[np.ndarray, np.ndarray | None]] = (),
    ) -> PlannedMotion:
        """TCP targets (4x4, base frame) in order, each segment from where the previous one ended; the
        scene is read once, at the real start (where the camera saw the arm and what it holds)."""
        q = np.asarray(start, dtype=np.float64)
        motion = PlannedMotion(q)
        self.planner.set_contact(contact_depth)
        self.planner.use_scene(cloud, q, None, held, viewpoint, others)
        for index, target in enumerate(targets):
            try:
                goal = self.kinematics.solve_from_any(target, q).q
                motion.obstacle_points = self.planner.allow_target(goal)
                goal = self._free_goal(target, q, goal)
                segment, planned = self._to_pose(q, target, goal, path)
            except (UnreachableError, CollisionError) as exc:
                prefix = f"waypoint {index} of {len(targets)}: " if len(targets) > 1 else ""
                raise type(exc)(prefix + str(exc)) from None
            motion.extend(segment, planned)
            q = segment[-1]
        return motion

    def to_joints(
        self,
        start: np.ndarray,
        goal: np.ndarray,
        path: int,
        cloud: np.ndarray | None = None,
        held: HeldVolume | None = None,
        viewpoint: np.ndarray | None = None,
        others: Sequence[tuple[np.ndarray, np.ndarray | None]] = (),
    ) -> PlannedMotion:
        """A joint goal: the straight joint-space move (interpolated by the robot) where it is free."""
        motion = PlannedMotion(np.asarray(start, dtype=np.float64))
        self.planner.set_contact(None)
        motion.obstacle_points = self.planner.use_scene(cloud, start, goal, held, viewpoint, others)
        if path != PLANNED:
            steps = max(2, int(np.ceil(np.max(np.abs(goal - start)) / 0.02)) + 1)
            line = [start + s * (goal - start) for s in np.linspace(0.0, 1.0, steps)[1:]]
            hit = self.planner.first_collision(line)
            if hit is None:
                motion.extend([goal], False)
                return motion
            if path == CARTESIAN:
                raise CollisionError(
                    f"the straight joint move is blocked {100 * (hit + 1) / len(line):.0f}% of the way: "
                    f"{self.planner.collision(line[hit])}; try path 'auto' or 'planned'"
                )
        motion.extend(self.planner.plan(start, goal), True)
        return motion

    def _free_goal(self, target: np.ndarray, start: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """``goal``, or where it collides (the forearm on a cabinet beside the object: libero_spatial_swap/3)
        the free posture for the same pose nearest ``start``; ``goal`` again when none is free, so the
        refusal names what it hits. The gripper is where ``goal`` has it, so its freed volume holds."""
        if not self.planner.in_collision(goal):
            return goal
        free = [q for q in self.kinematics.other_solutions(target, goal) if not self.planner.in_collision(q)]
        return min(free, key=lambda q: float(np.max(np.abs(q - start)))) if free else goal

    def _to_pose(
        self, start: np.ndarray, target: np.ndarray, goal: np.ndarray, path: int
    ) -> tuple[list[np.ndarray], bool]:
        if path == PLANNED:
            return self.planner.plan(start, goal), True
        try:
            line = self.kinematics.cartesian_path(start, target)
        except UnreachableError:
            if path != AUTO:
                raise
            return self.planner.plan(start, goal), True
        hit = self.planner.first_collision(line)
        if hit is None:
            return line, False
        if path == CARTESIAN:
            tcp = [self.kinematics.fk(q)[:3, 3] for q in [start, *line[: hit + 1]]]
            done = float(np.sum(np.linalg.norm(np.diff(tcp, axis=0), axis=1)))
            length = float(np.linalg.norm(target[:3, 3] - tcp[0]))
            hint = CONTACT_HINT if self.planner.contact_depth is None else ""
            raise CollisionError(
                f"the straight line to {_where(target)} is blocked {100 * (hit + 1) / len(line):.0f}% of the "
                f"way ({done * 100:.1f} of {length * 100:.1f} cm), with the gripper at "
                f"{np.round(tcp[-1], 3).tolist()}: {self.planner.collision(line[hit])}; "
                f"try path 'auto' or 'planned', or a waypoint above the obstacle{hint}"
            )
        return self.planner.plan(start, goal), True
