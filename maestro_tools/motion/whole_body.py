"""Whole-body reach for a mobile manipulator: pick a base pose (x, y, yaw in the map) from which the arm
reaches a grasp, then re-solve the arm alone from the base pose actually reached.

Plain Python on the robot's own MJCF (``profile.build_mjcf``, visual meshes dropped) with its floating
base replaced by planar joints (x, y, yaw) at the height its posture stands it on the floor; the posture
joints (legs, wheels) and the open fingers are frozen. Differential IK with mink (daqp): the TCP's
position and approach axis (rotation about it is free), a posture task pulling the arm to the middle of
its joint ranges (comfort), joint limits, and collision limits keeping the base's footprint (the box
around its body, legs and wheels) out of the keep-out boxes (a table, a sofa: ``SupportSurface`` in the
map frame) and the wrist off them, the floor and the robot's body.

A legged base plans with a body posture (``robots.body_posture``: height from the stand, pitch nose down;
two more frozen joints on the base, the legs from their IK): a target the stand cannot reach is tried
crouched, then crouched and pitched (the profile's ``min_height_offset`` and ``max_pitch``), and the plan
says which posture to command (``WholeBodyPlan.posture``); ``solve_arm`` takes the measured one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import mink
import mujoco
import numpy as np

from maestro_tools.common.errors import CollisionError, UnreachableError
from maestro_tools.common.surfaces import SupportSurface
from maestro_tools.motion.base_geometry import (
    BASE_JOINTS,
    BODY_JOINTS,
    FLOOR,
    FOOTPRINT,
    KEEP_OUT,
    BasePose,
    centre_gap,
    collision_geoms,
    footprint_overlaps,
    planning_spec,
    posture_qpos,
    subtree,
)
from maestro_tools.motion.reach_types import STAND, ArmSolution, ReachTarget, WholeBodyPlan
from maestro_tools.robots.body_posture import BodyPosture, LegPosture
from maestro_tools.robots.profile import RobotProfile

GEOM = mujoco.mjtGeom
BACK_OFF_STEP, BACK_OFF_STEPS = 0.04, 5  # m: a solution on an obstacle backs away up to 0.2 m
DT = 0.05  # s per IK step (velocities are integrated over it)


class WholeBodyReach:
    """Base placement and arm IK for one mobile manipulator among keep-out boxes (map frame)."""

    def __init__(
        self,
        profile: RobotProfile,
        keep_out: Sequence[SupportSurface] = (),
        standoff: float = 0.05,
        position_tolerance: float = 0.002,
        angle_tolerance: float = math.radians(1.0),
        centre_clearance: float = 0.0,
    ) -> None:
        profile.require("arm")
        profile.require("base")
        self.profile, self.keep_out, self.standoff = profile, tuple(keep_out), standoff
        # m the base's centre keeps from every box, as a navigation planner's inflated radius demands
        self.centre_clearance = centre_clearance
        self.position_tolerance, self.angle_tolerance = position_tolerance, angle_tolerance
        self.arm = profile.arm
        spec, self.height, self.footprint = planning_spec(profile, self.keep_out)
        self.model = spec.compile()
        m = self.model
        base = profile.base
        movable = base is not None and (base.min_height_offset < 0 or base.max_pitch > 0)
        self.legs = LegPosture(m, profile) if movable and base and base.posture else None
        self.leg_qpos = [int(m.jnt_qposadr[m.joint(j).id]) for j, _ in base.posture] if base else []
        self.body_qpos = [int(m.jnt_qposadr[m.joint(j).id]) for j in BODY_JOINTS]
        # Tried in turn by plan_base_pose: the stand, then crouched, then crouched and pitched nose down.
        self.postures = [STAND]
        if self.legs is not None and base is not None:
            self.postures += [BodyPosture(base.min_height_offset, 0.0)]
            if base.max_pitch > 0:
                self.postures += [BodyPosture(base.min_height_offset, base.max_pitch)]
        self.arm_dofs = [int(m.jnt_dofadr[m.joint(j).id]) for j in self.arm.mjcf_joints]
        self.arm_qpos = [int(m.jnt_qposadr[m.joint(j).id]) for j in self.arm.mjcf_joints]
        self.base_dofs = [int(m.jnt_dofadr[m.joint(j).id]) for j in BASE_JOINTS]
        self.base_qpos = [int(m.jnt_qposadr[m.joint(j).id]) for j in BASE_JOINTS]
        self.lower, self.upper = m.jnt_range[[m.joint(j).id for j in self.arm.mjcf_joints]].T.copy()
        others = sorted(set(range(m.nv)) - set(self.arm_dofs) - set(self.base_dofs))
        self._freeze_posture = mink.DofFreezingTask(m, others)
        self._freeze_base = mink.DofFreezingTask(m, sorted(others + self.base_dofs))
        self.q0 = posture_qpos(m, profile)
        self.configuration = mink.Configuration(m, self.q0)
        # The shoulder (the second arm joint's axis) above the floor, for a quick too-high answer.
        self.shoulder = float(self.configuration.data.xanchor[m.joint(self.arm.mjcf_joints[1]).id][2])
        self._tcp = mink.FrameTask(self.arm.tcp_site, "site", 1.0, 0.0, lm_damping=1e-3)
        self._axis = mink.AxisAlignTask(self.arm.tcp_site, "site", axis=(0.0, 0.0, 1.0), cost=1.0)
        comfort = self.q0.copy()
        comfort[self.arm_qpos] = (self.lower + self.upper) / 2
        cost = np.zeros(m.nv)
        cost[self.arm_dofs] = 1e-2
        self._posture = mink.PostureTask(m, cost=cost)
        self._posture.set_target(comfort)
        arm_root = int(m.joint(self.arm.mjcf_joints[0]).bodyid[0])
        wrist = collision_geoms(m, subtree(m, int(m.joint(self.arm.mjcf_joints[-2]).bodyid[0])))
        body = collision_geoms(m, [b for b in range(1, m.nbody) if b not in subtree(m, arm_root)])
        body = [g for g in body if m.geom(g).name != FOOTPRINT]
        boxes = [m.geom(f"{KEEP_OUT}{s.name}").id for s in self.keep_out]
        # Step limits keep the iterations smooth: 5 cm and 0.1 rad of base, 0.15 rad of arm joint per step.
        steps = {BASE_JOINTS[0]: 1.0, BASE_JOINTS[1]: 1.0, BASE_JOINTS[2]: 2.0}
        steps.update({joint: 3.0 for joint in self.arm.mjcf_joints})
        self._limits: list = [
            mink.ConfigurationLimit(m),
            mink.VelocityLimit(m, steps),
            mink.CollisionAvoidanceLimit(m, [(wrist, [*boxes, m.geom(FLOOR).id, *body])], 0.85, 0.005, 0.05),
        ]
        if boxes:
            self._limits.append(
                mink.CollisionAvoidanceLimit(m, [([m.geom(FOOTPRINT).id], boxes)], 0.85, standoff, 0.2)
            )

    # -- queries ------------------------------------------------------------------------------------------

    def base_blocked(self, pose: BasePose, margin: float = 0.0) -> str:
        """The name of the keep-out box the footprint (grown by ``margin``) overlaps at ``pose``, or the
        base's centre comes within ``centre_clearance`` of; else ''."""
        for box in self.keep_out:
            if footprint_overlaps(pose, self.footprint, box, margin) or (
                centre_gap(pose, box) < self.centre_clearance
            ):
                return box.name
        return ""

    def _check_target(self, target: ReachTarget) -> np.ndarray:
        p = np.asarray(target.position)
        for box in self.keep_out:
            if box.on_or_in(p, clearance=0.0)[0]:
                raise CollisionError(
                    f"target {np.round(p, 3).tolist()} is inside the {box.name} (its top is at z = "
                    f"{box.top:.3f} m); choose a point above it"
                )
        if p[2] < 0.0 or p[2] > self.shoulder + self.arm.reach:
            raise UnreachableError(
                f"target {np.round(p, 3).tolist()} is {p[2]:.2f} m up; the {self.profile.name} reaches up to "
                f"about {self.shoulder + self.arm.reach:.2f} m (its shoulder at {self.shoulder:.2f} m plus "
                f"{self.arm.reach} m of arm) and not below the floor (z = 0)"
            )
        return p

    def plan_base_pose(
        self,
        target: ReachTarget,
        current: BasePose,
        candidates: int = 3,
        iterations: int = 250,
        posture: BodyPosture | None = None,
        base_free: Callable[[BasePose], bool] | None = None,
    ) -> WholeBodyPlan:
        """A base pose and arm solution reaching ``target``: whole-body IK (base x, y, yaw and the arm) from
        up to ``candidates`` starting headings around the target nearest ``current``, keeping the base's
        footprint ``standoff`` from the keep-out boxes; the most comfortable arm wins, then the shortest
        drive. ``posture``: the body posture to plan with; None: the stand, then (a legged base) crouched,
        then crouched and pitched nose down, the first that reaches (``WholeBodyPlan.posture``).
        ``base_free``: whether a base pose is clear of what the boxes do not hold (e.g. the navigation's
        grid); a solution where it is not backs away from the target. Raises UnreachableError or
        CollisionError naming why not."""
        p = self._check_target(target)
        errors: list[UnreachableError] = []
        base = self.profile.base
        assert base is not None  # required in __init__
        for body in [posture.check(base)] if posture is not None else self.postures:
            try:
                return self._plan(p, target, current, candidates, iterations, body, base_free)
            except UnreachableError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        tried = ", ".join(f"{b.height:+.2f} m / {math.degrees(b.pitch):.0f} deg" for b in self.postures[1:])
        raise UnreachableError(f"standing: {errors[0]}; crouched too ({tried}): {errors[-1]}")

    def _plan(
        self,
        p: np.ndarray,
        target: ReachTarget,
        current: BasePose,
        candidates: int,
        iterations: int,
        body: BodyPosture,
        base_free: Callable[[BasePose], bool] | None = None,
    ) -> WholeBodyPlan:
        free = base_free or (lambda pose: True)
        radius = 0.65 * self.arm.reach  # base centre to target, a comfortable start
        a = np.asarray(target.approach)
        if np.hypot(a[0], a[1]) > 0.2:  # a tilted approach: the base stands behind it
            first = math.atan2(-a[1], -a[0])
            offsets = np.radians([0, 30, -30, 60, -60])
        else:
            first = math.atan2(current.y - p[1], current.x - p[0])
            offsets = np.radians([0, 45, -45, 90, -90, 135, -135, 180])
        seeds = []
        for angle in first + offsets:  # the nearest clear pose along each heading, facing the target
            for r in np.arange(radius, self.arm.reach + 0.3, 0.05):
                pose = BasePose(p[0] + r * math.cos(angle), p[1] + r * math.sin(angle), angle + math.pi)
                if not self.base_blocked(pose, self.standoff) and free(pose):
                    seeds.append(pose)
                    break
        if not seeds:
            raise UnreachableError(
                f"no room for the base around {np.round(p, 3).tolist()}: every pose {radius:.2f} m from it "
                f"puts the footprint within {self.standoff} m of "
                f"{', '.join(b.name for b in self.keep_out)}; move the target nearer an edge"
            )
        plans, best_miss, blocked = [], (np.inf, np.inf), ""
        for seed in seeds[:candidates]:
            q = self._qpos(seed, (self.lower + self.upper) / 2, body)
            solution, q = self._solve(q, target, free_base=True, iterations=iterations)
            if not self._ok(solution):
                best_miss = min(best_miss, (solution.position_error, solution.angle_error))
                continue
            x, y, yaw = (float(v) for v in q[self.base_qpos])
            pose = BasePose(x, y, math.remainder(yaw, 2 * math.pi))
            if self.base_blocked(pose):
                blocked = self.base_blocked(pose)
                continue
            if not free(pose):
                backed = self._back_off(target, pose, solution, body, free)
                if backed is None:
                    blocked = "obstacles the cameras see"
                    continue
                pose, solution = backed
            pose, solution = self._step_in(target, pose, solution, body, free)
            margins = self._margins(solution.q)
            travel = math.hypot(pose.x - current.x, pose.y - current.y)
            turn = abs(math.remainder(pose.yaw - current.yaw, 2 * math.pi))
            plans.append((float(margins.min()) - 0.05 * travel - 0.02 * turn, pose, solution, margins.min()))
        if not plans and not np.isfinite(best_miss[0]):
            raise UnreachableError(
                f"the {self.profile.name} reaches {np.round(p, 3).tolist()} with the approach "
                f"{np.round(target.approach, 2).tolist()} only with its base in the {blocked}; try a steeper "
                "tilt (45-60 deg from vertical) or a point nearer the edge"
            )
        if not plans:
            raise UnreachableError(
                f"no base pose lets the {self.profile.name} reach {np.round(p, 3).tolist()} with the "
                f"approach {np.round(target.approach, 2).tolist()}: {best_miss[0] * 1000:.0f} mm and "
                f"{math.degrees(best_miss[1]):.0f} deg off at best (joint limits, the floor or a keep-out in "
                "the way); try a tilted approach or a point nearer a table edge"
            )
        _, pose, solution, comfort = max(plans, key=lambda plan: plan[0])
        clearance = self._clearance(pose, body)
        return WholeBodyPlan(pose, solution, float(comfort), clearance, body)

    def solve_arm(
        self,
        target: ReachTarget,
        base: BasePose,
        seed: np.ndarray | None = None,
        tolerance: tuple[float, float] = (0.005, math.radians(5.0)),
        iterations: int = 300,
        posture: BodyPosture | None = None,
    ) -> ArmSolution:
        """Arm joints reaching ``target`` from the base pose actually reached (its localisation) with the
        body at ``posture`` (as measured; None: the stand), starting from ``seed`` (e.g. the plan's arm).
        Raises UnreachableError beyond ``tolerance`` (m, rad)."""
        p = self._check_target(target)
        start = self.arm_middle if seed is None else np.asarray(seed, dtype=np.float64)
        q = self._qpos(base, start, posture or STAND)
        solution, _ = self._solve(q, target, free_base=False, iterations=iterations)
        if solution.position_error > tolerance[0] or solution.angle_error > tolerance[1]:
            raise UnreachableError(
                f"from the base at ({base.x:.3f}, {base.y:.3f}, {math.degrees(base.yaw):.1f} deg) the arm "
                f"stays {solution.position_error * 1000:.0f} mm and {math.degrees(solution.angle_error):.1f} "
                f"deg from {np.round(p, 3).tolist()}; plan a new base pose (plan_base_pose)"
            )
        return solution

    def _margins(self, q: np.ndarray) -> np.ndarray:
        """Each arm joint's distance to its nearer limit over its range (0 .. 0.5)."""
        return np.minimum(q - self.lower, self.upper - q) / (self.upper - self.lower)

    def _back_off(
        self,
        target: ReachTarget,
        pose: BasePose,
        solution: ArmSolution,
        body: BodyPosture,
        free: Callable[[BasePose], bool],
    ) -> tuple[BasePose, ArmSolution] | None:
        """The nearest free base pose in steps away from the target (straight back, or sideways up to 90
        deg from that) from which the arm still reaches; None if none within BACK_OFF_STEPS steps."""
        p = np.asarray(target.position)
        away = math.atan2(pose.y - p[1], pose.x - p[0])
        for k in range(1, BACK_OFF_STEPS + 1):
            for turn in np.radians([0, 45, -45, 90, -90]):
                d, angle = BACK_OFF_STEP * k, away + turn
                moved = BasePose(pose.x + d * math.cos(angle), pose.y + d * math.sin(angle), pose.yaw)
                if self.base_blocked(moved, self.standoff) or not free(moved):
                    continue
                q = self._qpos(moved, solution.q, body)
                backed, _ = self._solve(q, target, free_base=False, iterations=80)
                if self._ok(backed):
                    return moved, backed
        return None

    def _step_in(
        self,
        target: ReachTarget,
        pose: BasePose,
        solution: ArmSolution,
        body: BodyPosture,
        free: Callable[[BasePose], bool] = lambda pose: True,
    ) -> tuple[BasePose, ArmSolution]:
        """Move the base towards the target while the arm's worst joint margin grows: a stretched arm
        fails when the base stops a few cm short."""
        p = np.asarray(target.position)
        heading = math.atan2(p[1] - pose.y, p[0] - pose.x)
        for _ in range(4):
            moved = BasePose(pose.x + 0.04 * math.cos(heading), pose.y + 0.04 * math.sin(heading), pose.yaw)
            if self.base_blocked(moved, self.standoff) or not free(moved):
                break
            q = self._qpos(moved, solution.q, body)
            better, _ = self._solve(q, target, free_base=False, iterations=60)
            if not self._ok(better) or self._margins(better.q).min() <= self._margins(solution.q).min():
                break
            pose, solution = moved, better
        return pose, solution

    @property
    def arm_middle(self) -> np.ndarray:
        return (self.lower + self.upper) / 2

    def _qpos(self, base: BasePose, arm: np.ndarray, body: BodyPosture = STAND) -> np.ndarray:
        q = self.q0.copy()
        q[self.base_qpos] = [base.x, base.y, base.yaw]
        if body != STAND:
            if self.legs is None:
                raise UnreachableError(f"the {self.profile.name}'s body does not lower or pitch")
            q[self.body_qpos] = [body.height, body.pitch]
            q[self.leg_qpos] = self.legs.solve(body)
        q[self.arm_qpos] = np.clip(arm, self.lower + 1e-6, self.upper - 1e-6)
        return q

    def _ok(self, solution: ArmSolution) -> bool:
        return (
            solution.position_error <= self.position_tolerance
            and solution.angle_error <= self.angle_tolerance
        )

    def _solve(
        self, q: np.ndarray, target: ReachTarget, free_base: bool, iterations: int
    ) -> tuple[ArmSolution, np.ndarray]:
        started = time.perf_counter()
        cfg = self.configuration
        cfg.update(q)
        position, approach = np.asarray(target.position), np.asarray(target.approach)
        self._tcp.set_target(mink.SE3.from_translation(position))
        self._axis.set_target(approach)
        freeze = self._freeze_posture if free_base else self._freeze_base
        site = self.model.site(self.arm.tcp_site).id
        error = angle = np.inf
        history: list[float] = []
        for _ in range(iterations):
            velocity = mink.solve_ik(
                cfg, [self._tcp, self._axis, self._posture], DT, "daqp", damping=1e-3,
                limits=self._limits, constraints=[freeze],
            )  # fmt: skip
            cfg.integrate_inplace(velocity, DT)
            error = float(np.linalg.norm(cfg.data.site_xpos[site] - position))
            axis = cfg.data.site_xmat[site].reshape(3, 3)[:, 2]
            angle = float(np.arccos(np.clip(axis @ approach, -1.0, 1.0)))
            if error < self.position_tolerance / 2 and angle < self.angle_tolerance / 2:
                break
            history.append(error + 0.1 * angle)  # stalled: under 0.5 mm gained in 25 steps
            if len(history) > 25 and history[-26] - history[-1] < 5e-4:
                break
        arm = cfg.q[self.arm_qpos].copy()
        return ArmSolution(arm, error, angle, time.perf_counter() - started), cfg.q.copy()

    def _clearance(self, pose: BasePose, body: BodyPosture = STAND) -> float:
        """m between the footprint at ``pose`` and the nearest keep-out box (inf with none)."""
        if not self.keep_out:
            return math.inf
        data = mujoco.MjData(self.model)
        data.qpos[:] = self._qpos(pose, self.arm_middle, body)
        mujoco.mj_kinematics(self.model, data)
        footprint, fromto = self.model.geom(FOOTPRINT).id, np.zeros(6)
        return min(
            mujoco.mj_geomDistance(
                self.model, data, footprint, self.model.geom(f"{KEEP_OUT}{b.name}").id, 10.0, fromto
            )
            for b in self.keep_out
        )


__all__ = ["STAND", "ArmSolution", "ReachTarget", "WholeBodyPlan", "WholeBodyReach"]
