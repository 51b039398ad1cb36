"""Whole-body reach for the Go2-W + PiPER (``motion.whole_body``): a base pose and arm for a grasp, then the
arm re-solved from a base that stopped a few cm and degrees off; checked by forward kinematics of the
simulation's own model in the house (free-joint base), independent of the planning model."""

from __future__ import annotations

import math
import time

import mujoco
import numpy as np
import pytest

from maestro_tools.common.errors import UnreachableError
from maestro_tools.common.surfaces import SupportSurface
from maestro_tools.motion.base_geometry import BasePose
from maestro_tools.motion.whole_body import ReachTarget, WholeBodyReach
from maestro_tools.robots import go2w_piper_model as go2w
from maestro_tools.robots.body_posture import BodyPosture
from maestro_tools.robots.go2w_piper import GO2W_PIPER
from maestro_tools.sim.mobile.house import TABLE_CENTER, TABLE_HALF, TABLE_HEIGHT, house_world

TABLE = SupportSurface("white table", (*TABLE_CENTER, TABLE_HEIGHT / 2), (*TABLE_HALF, TABLE_HEIGHT / 2))
START = BasePose(1.9, 0.6, 0.0)  # the house's robot start
SOUTH_EDGE = TABLE_CENTER[1] - TABLE_HALF[1]  # y of the table's edge facing the start
TOP = TABLE_HEIGHT + 0.035  # the centre of a plush ball on the table
# A base stops within a few cm and degrees of its goal.
PERTURBATIONS = ((0.03, -0.02, math.radians(3.0)), (-0.02, 0.03, math.radians(-3.0)))


@pytest.fixture(scope="module")
def reach() -> WholeBodyReach:
    return WholeBodyReach(GO2W_PIPER, [TABLE])


@pytest.fixture(scope="module")
def house() -> tuple[mujoco.MjModel, mujoco.MjData]:
    spec, _ = house_world(GO2W_PIPER)
    model = spec.compile()
    return model, mujoco.MjData(model)


def _place(house: tuple[mujoco.MjModel, mujoco.MjData], base: BasePose, arm: np.ndarray) -> np.ndarray:
    """The TCP pose (4x4) with the sim model's robot standing at ``base`` with ``arm``; fills contacts."""
    model, data = house
    data.qpos[:] = go2w.stand_qpos(model, (base.x, base.y), base.yaw)
    free = model.jnt_qposadr[model.body(go2w.BASE_BODY).jntadr[0]]
    data.qpos[free + 2] = go2w.stand_height()
    for joint, value in zip(GO2W_PIPER.arm.mjcf_joints, arm, strict=True):
        data.qpos[model.jnt_qposadr[model.joint(joint).id]] = value
    mujoco.mj_forward(model, data)
    site = model.site(GO2W_PIPER.arm.tcp_site).id
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = data.site_xmat[site].reshape(3, 3), data.site_xpos[site]
    return pose


def _table_contacts(house: tuple[mujoco.MjModel, mujoco.MjData]) -> list[str]:
    model, data = house
    names = []
    for contact in data.contact[: data.ncon]:
        pair = [model.geom(int(g)).name for g in (contact.geom1, contact.geom2)]
        if any(n.startswith("white_table") for n in pair):
            names.append(" / ".join(pair))
    return names


@pytest.mark.parametrize(
    "label, target",
    [
        (
            "table, 45 deg (the green ball, 23 cm in)",
            ReachTarget.tilted((2.35, 1.18, TOP), math.pi / 2, math.pi / 4),
        ),
        ("table, 45 deg from the west, 15 cm in", ReachTarget.tilted((2.15, 1.45, TOP), 0.0, math.pi / 4)),
        ("low (a 35 cm stool), 45 deg", ReachTarget.tilted((2.0, -0.4, 0.35), 0.0, math.pi / 4)),
    ],
)
def test_plan_then_re_solve_from_a_perturbed_base(reach, house, label, target) -> None:
    started = time.perf_counter()
    plan = reach.plan_base_pose(target, START)
    planned = time.perf_counter() - started
    assert plan.arm.position_error < 0.002 and plan.arm.angle_error < math.radians(1.0)
    # The base stands clear of the table: its footprint outside the table's, no contact in the sim model.
    assert reach.base_blocked(plan.base) == "" and plan.clearance > 0.0
    tcp = _place(house, plan.base, plan.arm.q)
    assert np.linalg.norm(tcp[:3, 3] - target.position) < 0.005
    assert _table_contacts(house) == []
    lines = [
        f"{label}: base ({plan.base.x:.3f}, {plan.base.y:.3f}, {math.degrees(plan.base.yaw):.1f} deg), "
        f"comfort {plan.comfort:.2f}, clearance {plan.clearance * 100:.1f} cm, plan {planned * 1000:.0f} ms, "
        f"IK {plan.arm.position_error * 1000:.2f} mm"
    ]
    for dx, dy, dyaw in PERTURBATIONS:
        reached = BasePose(plan.base.x + dx, plan.base.y + dy, plan.base.yaw + dyaw)
        arm = reach.solve_arm(target, reached, seed=plan.arm.q)
        tcp = _place(house, reached, arm.q)
        position = float(np.linalg.norm(tcp[:3, 3] - target.position))
        angle = math.degrees(math.acos(np.clip(tcp[:3, 2] @ target.approach, -1.0, 1.0)))
        assert position < 0.005 and angle < 5.0, (label, dx, dy, dyaw)
        lines.append(
            f"  base off by ({dx}, {dy}, {math.degrees(dyaw):.0f} deg): re-solve "
            f"{arm.seconds * 1000:.0f} ms, {position * 1000:.2f} mm, {angle:.2f} deg (sim FK)"
        )
    print("\n".join(lines))


def test_too_high_is_unreachable_with_the_range(reach) -> None:
    with pytest.raises(UnreachableError, match=r"2\.00 m up.*reaches up to about 1\.40 m"):
        reach.plan_base_pose(ReachTarget((2.2, 0.2, 2.0)), START)


def test_floor_toy_is_out_of_reach_in_the_stand(reach) -> None:
    """The PiPER's shoulder (joint2, 0..180 deg) cannot point below horizontal: from the 0.44 m stand the
    TCP gets down to about 0.12 m, so a toy on the floor needs the crouch (test_body_posture.py)."""
    started = time.perf_counter()
    with pytest.raises(UnreachableError, match="off at best"):
        reach.plan_base_pose(ReachTarget((2.0, -0.4, 0.04)), START, posture=BodyPosture())
    print(f"floor toy refused in {(time.perf_counter() - started) * 1000:.0f} ms")


def test_target_inside_the_table_and_a_blocked_base(reach) -> None:
    with pytest.raises(Exception, match="inside the white table"):
        reach.plan_base_pose(ReachTarget((2.6, 1.3, 0.5)), START)
    assert reach.base_blocked(BasePose(2.6, 1.0, math.pi / 2)) == "white table"
    assert reach.base_blocked(BasePose(2.6, 0.3, math.pi / 2)) == ""


def test_planning_model_stands_like_the_sim(reach) -> None:
    assert reach.height == pytest.approx(go2w.stand_height(), abs=1e-3)
    assert reach.footprint[1] > 0.3 and reach.footprint[3] > 0.2  # the head and the wheels
