"""The `maestro` command: dry-run output, argument listing, and errors for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from maestro_agent.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "maestro_agent.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_dry_run_prints_the_franka_processes() -> None:
    result = run_cli("launch", "franka", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "# /maestro/sim (respawn)" in result.stdout
    assert "__node:=sim" in result.stdout and "__ns:=/maestro" in result.stdout
    assert "use_sim_time:=true" in result.stdout
    assert "task:=ball_in_bowl" in result.stdout
    assert "--params-file" in result.stdout


def test_launch_arguments_reach_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", "franka", "--dry-run", "task:=clean_table", "seed:=7"]) == 0
    out = capsys.readouterr().out
    assert "task:=clean_table" in out and "seed:=7" in out


def test_show_args_lists_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", "franka", "--show-args"]) == 0
    out = capsys.readouterr().out
    assert "sim:=true" in out and "use_sim_time" in out


def test_unknown_robot_names_the_valid_ones() -> None:
    result = run_cli("launch", "spot", "--dry-run")
    assert result.returncode == 2
    assert "unknown robot 'spot'; valid robots: " in result.stderr and "franka" in result.stderr


def test_bad_argument_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", "franka", "--dry-run", "colour:=red"]) == 2
    error = capsys.readouterr().err
    assert "unknown launch argument 'colour'; valid: sim, task, seed, real_time_factor, vlm" in error
    assert all(f" {name}," in error for name in ("harness", "faults", "vla", "perturbation")), error


def test_malformed_spec_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "config" / "bringup").mkdir(parents=True)
    (tmp_path / "config" / "bringup" / "broken.yaml").write_text(
        "version: 1\nrobot: broken\nnodes:\n  - name: [\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "maestro_agent.cli", "launch", "broken", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"MAESTRO_SHARE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "broken.yaml:" in result.stderr and "not valid YAML" in result.stderr


def test_missing_executable_is_reported_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "config" / "bringup").mkdir(parents=True)
    (tmp_path / "config" / "bringup" / "ghost.yaml").write_text(
        "version: 1\nrobot: ghost\nnodes:\n"
        "  - {name: ghost, package: other_pkg, executable: no_such_node_exe}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "maestro_agent.cli", "launch", "ghost"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"MAESTRO_SHARE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "executables not installed: no_such_node_exe (node ghost" in result.stderr


def test_a_node_this_maestro_does_not_have_is_named(tmp_path: Path) -> None:
    (tmp_path / "config" / "bringup").mkdir(parents=True)
    (tmp_path / "config" / "bringup" / "future.yaml").write_text(
        "version: 1\nrobot: future\nnodes:\n  - {name: sim, executable: not_landed_node}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "maestro_agent.cli", "launch", "future"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"MAESTRO_SHARE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "not_landed_node (node sim): not an executable of this version of maestro" in result.stderr
    assert "go2w_sim_node" in result.stderr  # the executables it has


def test_the_go2w_piper_graph_runs_the_sim_or_the_vendor_drivers() -> None:
    result = run_cli("launch", "go2w_piper", "--dry-run", "task:=find_ball")
    assert result.returncode == 0, result.stderr
    assert "go2w_sim_node --ros-args -r __node:=sim -r __ns:=/maestro" in result.stdout
    assert "use_sim_time:=true" in result.stdout and "world:=house" in result.stdout
    assert "task:=find_ball" in result.stdout and "go2w_driver" not in result.stdout
    for node in (
        "detector",
        "keypointer",
        "grasp_planner",
        "motion",
        "navigation",
        "semantic_mapper",
        "agent",
    ):
        assert f"-r __node:={node} " in result.stdout, node
    real = run_cli("launch", "go2w_piper", "--dry-run", "sim:=false", "can_channel:=can1")
    assert real.returncode == 0, real.stderr
    assert "__node:=sim " not in real.stdout and "use_sim_time:=false" in real.stdout
    assert "go2w_driver --ros-args" in real.stdout and "can_channel:=can1" in real.stdout
    assert "sim_false.yaml" in real.stdout


def test_real_robot_bringup_drops_the_sim_and_points_at_franka_ros2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["launch", "franka", "--dry-run", "sim:=false"]) == 0
    out = capsys.readouterr().out
    assert "__node:=sim" not in out and "use_sim_time:=false" in out and "sim_false.yaml" in out
