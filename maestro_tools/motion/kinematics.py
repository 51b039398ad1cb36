"""Arm kinematics for motion planning: forward kinematics, IK and straight-line Cartesian paths (mink).

Plain Python on the robot's own model plus its declared support surfaces (``robots.RobotModel``):
differential IK with mink and the daqp QP solver, with joint limits and a hand-to-support
collision-avoidance limit. A Cartesian path is
a straight line in position and a slerp in orientation, sampled every ``step`` metres and solved
sequentially from the start configuration, so consecutive joint waypoints stay close.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import mink
import numpy as np

from maestro_tools.common.errors import CollisionError, InvalidArgumentError, UnreachableError
from maestro_tools.robots.model import RobotModel


@dataclass(frozen=True)
class IKResult:
    q: np.ndarray  # (number of arm joints,)
    position_error: float
    orientation_error: float


class ArmKinematics:
    def __init__(
        self, robot: RobotModel, position_tolerance: float = 0.002, orientation_tolerance: float = 0.02
    ) -> None:
        self.robot = robot
        self.model = robot.model
        self.name = robot.profile.name
        self.reach = robot.arm.reach
        self.tcp_site = robot.arm.tcp_site
        self.configuration = mink.Configuration(self.model, robot.rest_qpos)
        self.qpos_index, self.lower, self.upper = robot.qpos_index, robot.lower, robot.upper
        self.position_tolerance, self.orientation_tolerance = position_tolerance, orientation_tolerance
        self._tcp = mink.FrameTask(
            self.tcp_site, "site", position_cost=1.0, orientation_cost=0.5, lm_damping=1e-3
        )
        self._posture = mink.PostureTask(self.model, cost=1e-3)
        self._limits: list = [mink.ConfigurationLimit(self.model)]
        if robot.support_geoms:
            hand = mink.get_subtree_geom_ids(self.model, self.model.body(robot.arm.hand_body).id)
            self._limits.append(
                mink.CollisionAvoidanceLimit(
                    self.model,
                    geom_pairs=[(hand, list(robot.support_geoms))],
                    minimum_distance_from_collisions=0.004,
                    collision_detection_distance=0.04,
                )
            )
        frozen = robot.frozen_dofs
        self._constraints = [mink.DofFreezingTask(self.model, frozen)] if frozen else []
        if frozen:  # the arm alone: 0.15 rad per step keeps it from thrashing out of a folded pose
            self._limits.append(mink.VelocityLimit(self.model, {j: 3.0 for j in robot.arm.mjcf_joints}))
        self.home = np.asarray(robot.home, dtype=np.float64)
        self._set(self.home)
        self._posture.set_target(self.configuration.q.copy())

    def _set(self, q: np.ndarray) -> None:
        full = self.configuration.q.copy()
        full[self.qpos_index] = q
        self.robot.set_fingers(full, self.robot.max_width)
        self.configuration.update(full)

    def fk(self, q: np.ndarray) -> np.ndarray:
        """4x4 TCP pose in the base frame for arm joints ``q``."""
        self._set(np.asarray(q, dtype=np.float64))
        return self.configuration.get_transform_frame_to_world(self.tcp_site, "site").as_matrix()

    def solve(self, target: np.ndarray, seed: np.ndarray, iterations: int = 200) -> IKResult:
        """Joint positions reaching ``target`` (4x4) from ``seed``; raise UnreachableError if none."""
        target = np.asarray(target, dtype=np.float64)
        if target.shape != (4, 4) or not np.isfinite(target).all():
            raise InvalidArgumentError("the target pose must be a finite 4x4 transform (no NaN)")
        distance = float(np.linalg.norm(target[:2, 3]))
        if distance > self.reach:
            raise UnreachableError(
                f"target at {np.round(target[:3, 3], 3).tolist()} is out of reach: the {self.name} arm "
                f"reaches about {self.reach} m from its base (this is {distance:.2f} m away horizontally)"
            )
        for surface in self.robot.surfaces:
            if surface.on_or_in(target[:3, 3], clearance=0.0)[0]:
                raise CollisionError(
                    f"target at {np.round(target[:3, 3], 3).tolist()} is inside the {surface.name} (its top "
                    f"is at z = {surface.top:.3f} m); choose a point above it"
                )
        self._set(np.clip(seed, self.lower, self.upper))
        self._tcp.set_target(mink.SE3.from_matrix(target))
        position_error = orientation_error = np.inf
        for _ in range(iterations):
            velocity = mink.solve_ik(
                self.configuration,
                [self._tcp, self._posture],
                0.05,
                "daqp",
                damping=1e-3,
                limits=self._limits,
                constraints=self._constraints,
            )
            self.configuration.integrate_inplace(velocity, 0.05)
            error = self._tcp.compute_error(self.configuration)
            position_error, orientation_error = (
                float(np.linalg.norm(error[:3])),
                float(np.linalg.norm(error[3:])),
            )
            if position_error < self.position_tolerance and orientation_error < self.orientation_tolerance:
                break
        q = self.configuration.q[self.qpos_index].copy()
        if position_error > self.position_tolerance or orientation_error > self.orientation_tolerance:
            raise UnreachableError(
                f"no IK solution for {np.round(target[:3, 3], 3).tolist()}: "
                f"{position_error * 1000:.1f} mm and {np.degrees(orientation_error):.1f} deg off at best "
                "(joint limits or a support surface in the way); try a pose nearer the robot, higher, or "
                "with the gripper pointing down"
            )
        return IKResult(q, position_error, orientation_error)

    def solve_from_any(self, target: np.ndarray, seed: np.ndarray) -> IKResult:
        """``solve`` from ``seed``, else from the home posture, else from home with the last joint turned
        by the target's yaw about the approach: the solver can settle in a local minimum from an arm
        stretched out over an obstacle, and from home when the wrist must turn far while the hand keeps
        off a support surface (LIBERO: 172 mm off a pose over the plate at yaw 67.5 deg). The first
        error is the one raised."""
        try:
            return self.solve(target, seed)
        except UnreachableError as exc:
            first = exc
        home = self.fk(self.home)
        relative = home[:3, :3].T @ np.asarray(target, dtype=np.float64)[:3, :3]
        turned = self.home.copy()
        turned[-1] = np.clip(
            turned[-1] + np.arctan2(relative[1, 0], relative[0, 0]), self.lower[-1], self.upper[-1]
        )
        for start in (self.home, turned):
            if np.allclose(start, seed, atol=1e-3):
                continue
            try:
                return self.solve(target, start)
            except UnreachableError:
                pass
        raise first

    def other_solutions(
        self, target: np.ndarray, around: np.ndarray, count: int = 12, radius: float = 1.2
    ) -> list[np.ndarray]:
        """IK solutions for ``target`` from ``count`` seeds scattered up to ``radius`` rad about ``around``
        (a solution already): the arm's other postures for the same pose (a 7-joint arm's elbow swivel,
        another branch). The same seeds every call, so the same request gets the same answer."""
        rng = np.random.default_rng(0)
        around = np.asarray(around, dtype=np.float64)
        found = []
        for offset in rng.uniform(-radius, radius, (count, len(around))):
            with contextlib.suppress(UnreachableError):
                found.append(self.solve(target, np.clip(around + offset, self.lower, self.upper)).q)
        return found

    def cartesian_path(self, q_start: np.ndarray, target: np.ndarray, step: float = 0.01) -> list[np.ndarray]:
        """Joint waypoints moving the TCP along a straight line from FK(q_start) to ``target``."""
        self.solve(target, q_start)  # the goal itself first: its error names the target, not a midpoint
        start = mink.SE3.from_matrix(self.fk(q_start))
        goal = mink.SE3.from_matrix(np.asarray(target, dtype=np.float64))
        length = float(np.linalg.norm(goal.translation() - start.translation()))
        angle = float(np.linalg.norm((start.inverse() @ goal).rotation().log()))
        count = max(2, int(np.ceil(max(length / step, angle / 0.05))) + 1)
        waypoints, q = [], np.asarray(q_start, dtype=np.float64)
        for s in np.linspace(0.0, 1.0, count)[1:]:
            try:
                q = self.solve(start.interpolate(goal, float(s)).as_matrix(), q, iterations=60).q
            except UnreachableError as exc:
                raise UnreachableError(
                    f"the straight line to {np.round(goal.translation(), 3).tolist()} is blocked "
                    f"{s * 100:.0f}% of the way: {exc}"
                ) from None
            waypoints.append(q)
        return waypoints


def time_path(
    q_start: np.ndarray,
    waypoints: list[np.ndarray],
    max_joint_velocity: float = 0.8,
    minimum_duration: float = 0.5,
) -> np.ndarray:
    """Times from start (s) for joint waypoints: each segment at most ``max_joint_velocity`` rad/s,
    with slower first and last segments so the motion starts and stops gently."""
    previous, times, now = np.asarray(q_start), [], 0.0
    count = len(waypoints)
    for k, q in enumerate(waypoints):
        segment = float(np.max(np.abs(q - previous))) / max_joint_velocity
        ramp = 1.0 + 2.0 * max(0.0, 1.0 - min(k + 1, count - k) / 4)  # 3x slower at the ends
        now += max(segment * ramp, 0.02)
        times.append(now)
        previous = q
    scale = max(1.0, minimum_duration / times[-1]) if times else 1.0
    return np.asarray(times) * scale
