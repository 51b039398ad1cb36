"""LIBERO as a robot, without LIBERO: the profile, the bringup spec, task names, the OSC delta maths and
the launcher's clean failure where .venv-libero is missing (the LIBERO node itself: test/e2e)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mujoco
import numpy as np
import pytest
import transforms3d

from maestro_agent.bringup.launcher import resolve_commands
from maestro_tools.robots import get_robot
from maestro_tools.sim.libero import launcher
from maestro_tools.sim.libero.suites import TASK_NAMES, TASKS, LiberoTaskError, bddl_language, parse_task
from maestro_tools.sim.libero.world import delta_action, inner_pixels, label_of, rotation_error

# LIBERO's grip site at the profile's HOME, in the robot base frame (measured in libero_object/0).
LIBERO_TCP_AT_HOME = (0.4474, -0.0063, 0.2484)


def test_profile_registered_and_matches_libero_kinematics() -> None:
    profile = get_robot("libero")
    assert {"arm", "gripper", "cameras"} <= profile.capabilities
    assert profile.camera_names == ("scene", "wrist") and profile.hand_camera == "wrist"
    model = profile.build_mjcf().compile()
    data = mujoco.MjData(model)
    for name, value in zip(profile.arm.mjcf_joints, profile.arm.home, strict=True):
        data.qpos[model.joint(name).qposadr[0]] = value
    mujoco.mj_kinematics(model, data)
    assert np.allclose(data.site(profile.arm.tcp_site).xpos, LIBERO_TCP_AT_HOME, atol=0.001)


def test_bringup_resolves_with_the_libero_node_required() -> None:
    commands = resolve_commands(
        "libero", ["task:=3", "init:=7", "perturbation:=position"], require_executables=False
    )
    nodes = {node.name: (node, command) for node, command in commands}
    assert {"sim", "detector", "grasp_planner", "motion", "agent"} <= set(nodes)
    sim, command = nodes["sim"]
    assert sim.required and not sim.respawn and sim.executable == "libero_sim_node"
    assert "task:=3" in command and "init:=7" in command and "perturbation:=position" in command
    assert all(n.parameters.get("robot", "libero") == "libero" for n, _ in commands)


def test_task_names() -> None:
    assert len(TASKS) == 40 and "libero_object/9" in TASKS
    ref = parse_task("libero_spatial/2", init=5, perturbation="position")
    assert (ref.benchmark_suite, ref.index, ref.init) == ("libero_spatial_swap", 2, 5)
    assert parse_task("libero_goal:1", perturbation="task").benchmark_suite == "libero_goal_task"
    for bad in ("libero_90/0", "libero_object/10", "libero_object"):
        with pytest.raises(LiberoTaskError, match=r"libero_object|valid"):
            parse_task(bad)
    assert parse_task("libero_object/0", perturbation="pose").benchmark_suite == "libero_object_swap"
    assert parse_task("libero_object_task/4").benchmark_suite == "libero_object_task"
    with pytest.raises(LiberoTaskError, match="position"):
        parse_task("libero_object/0", perturbation="shaken")
    # What `maestro eval` accepts (TASK_REGISTRIES): the tasks and their variant suites' names, all parsed.
    assert TASK_NAMES[: len(TASKS)] == TASKS and "libero_spatial_task/9" in TASK_NAMES
    assert {parse_task(name).name for name in TASK_NAMES} == set(TASKS)


def test_delta_action_points_at_the_target_and_saturates() -> None:
    current = np.eye(4)
    target = np.eye(4)
    target[:3, 3] = [0.01, -0.2, 0.0]
    target[:3, :3] = transforms3d.euler.euler2mat(0.0, 0.0, 0.1)
    action = delta_action(target, current)
    assert np.allclose(action[:3], [0.2, -1.0, 0.0])  # 0.05 m per unit, clipped
    assert np.allclose(action[3:], [0.0, 0.0, 0.2])  # 0.5 rad per unit
    flip = transforms3d.euler.euler2mat(np.pi, 0.0, 0.0)
    assert np.isclose(np.linalg.norm(rotation_error(flip, np.eye(3))), np.pi)
    assert label_of("alphabet_soup_1") == "alphabet soup" and label_of("basket") == "basket"


def test_launcher_fails_cleanly_without_the_venv(tmp_path: os.PathLike) -> None:
    env = {**os.environ, launcher.VENV_ENV: str(tmp_path / "missing")}
    done = subprocess.run(
        [sys.executable, "-m", "maestro_tools.sim.libero.launcher", "--ros-args"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "make setup-libero" in done.stderr and "missing" in done.stderr
    # A venv without LIBERO in it (here: a bare interpreter) is named too.
    fake = tmp_path / "bare"
    (fake / "bin").mkdir(parents=True)
    (fake / "bin" / "python").symlink_to(sys.executable)
    with pytest.raises(launcher.LiberoMissingError, match="make setup-libero"):
        launcher.check_packages(launcher.venv_python(fake))


def test_segmentation_outlines_are_left_unlabelled():
    # LIBERO's renderer gives ids and depth that disagree on an instance's outline: only inner pixels keep it.
    ids = np.zeros((6, 7), dtype=np.int32)
    ids[1:5, 1:4] = 3  # a 4 x 3 object
    ids[1:5, 4:6] = 5  # touching another
    inner = inner_pixels(ids)
    expected = np.zeros_like(ids)
    expected[2:4, 2] = 3
    assert (inner == expected).all(), inner
    assert (ids[1:5, 1:4] == 3).all()  # the input is not changed
    full = np.full((3, 3), 2, dtype=np.int32)
    assert (inner_pixels(full) == 2).all()  # the image's border is not an outline


def test_ik_that_settles_short_from_a_contorted_seed_is_solved_again_from_home() -> None:
    from maestro_tools.common.errors import UnreachableError
    from maestro_tools.common.surfaces import parse_surfaces
    from maestro_tools.motion.kinematics import ArmKinematics
    from maestro_tools.robots.model import RobotModel

    arm = ArmKinematics(RobotModel(get_robot("libero")))
    target = np.eye(4)
    target[:3, :3] = transforms3d.euler.euler2mat(np.pi, 0.0, np.radians(67.5), "sxyz")
    target[:3, 3] = [0.662, 0.233, 0.087]  # over libero_spatial/9's plate
    contorted = np.array([0.794, -0.812, -2.66, -3.022, 1.815, 3.424, 0.618])  # settles 12 cm off from here
    with pytest.raises(UnreachableError, match="mm and"):
        arm.solve(target, contorted)
    solved = arm.solve_from_any(target, contorted)
    assert np.allclose(arm.fk(solved.q)[:3, 3], target[:3, 3], atol=0.002)
    on_the_table = ArmKinematics(
        RobotModel(get_robot("libero"), parse_surfaces(["table 0.5 0 -0.054 0.6 0.6 0.05"]))
    )
    with pytest.raises(UnreachableError):  # the hand kept off the table, the wrist turning 67.5 deg: stuck
        on_the_table.solve(target, on_the_table.home)
    solved = on_the_table.solve_from_any(target, on_the_table.home)  # from home with the wrist turned
    assert np.allclose(on_the_table.fk(solved.q)[:3, 3], target[:3, 3], atol=0.002)
    out_of_reach = target.copy()
    out_of_reach[:3, 3] = [0.662, 0.233, 0.95]
    with pytest.raises(UnreachableError):  # no solution from either: the first error is the answer
        arm.solve_from_any(out_of_reach, contorted)


def test_a_joint_goal_is_judged_with_the_arms_own_tolerance() -> None:
    from maestro_agent.proxy.arm_checks import short_message, shortfall
    from maestro_agent.proxy.types import GripperState, RobotState
    from maestro_msgs.action import MoveArm

    arm = get_robot("libero").arm
    goal = MoveArm.Goal(mode=MoveArm.Goal.JOINTS, joint_positions=list(arm.home))
    ended = np.array(arm.home) + [0.0, 0.0, 0.0, 0.0, 0.0, 0.029, 0.0]  # LIBERO's move home, joint 6 short
    state = RobotState(np.zeros(3), np.zeros(3), np.eye(3), ended, GripperState(0.08, 0.0, False))
    assert shortfall(goal, state) > 0  # the Franka's 0.01 rad
    assert shortfall(goal, state, arm.reach_tolerance, arm.joint_tolerance) < 0  # LIBERO's OSC: 0.05 rad
    blocked = np.array(arm.home) + [0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.0]  # a posture held back: still a stall
    state = RobotState(np.zeros(3), np.zeros(3), np.eye(3), blocked, GripperState(0.08, 0.0, False))
    assert shortfall(goal, state, arm.reach_tolerance, arm.joint_tolerance) > 0
    message = short_message(goal, state, arm.joints, arm.reach_tolerance, arm.joint_tolerance)
    assert "panda_joint4 is 0.300 rad from it (tolerance 0.05 rad)" in message


def test_the_instruction_is_the_bddl_language_not_the_file_name() -> None:
    # A LIBERO-PRO task variant keeps its original file name but states another goal.
    problem = "(define (problem LIBERO_Floor_Manipulation)\n  (:domain robosuite)\n"
    problem += "  (:language Pick the   cream cheese and place it in the basket)\n    (:regions\n"
    assert bddl_language(problem) == "Pick the cream cheese and place it in the basket"
    assert bddl_language("(define (problem p) (:domain robosuite))") == ""
    installed = Path(__file__).parents[2] / ".venv-libero/lib"
    variant = list(installed.glob("python3*/site-packages/libero/libero/bddl_files/libero_object_task"))
    if variant:  # where `make setup-libero` ran: the shipped file says so too
        text = (variant[0] / "pick_up_the_alphabet_soup_and_place_it_in_the_basket.bddl").read_text()
        assert "cream cheese" in bddl_language(text) and "cream_cheese_1 basket" in text
