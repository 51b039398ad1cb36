"""Bad input to the set-up path: each gets one clear sentence telling the user what to run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_make_test_before_setup_says_run_make_setup(tmp_path: Path) -> None:
    result = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "test", f"VENV={tmp_path / 'missing'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"No virtual environment at {tmp_path / 'missing'}: run 'make setup' first." in result.stderr


def test_incomplete_venv_says_run_make_setup_again(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)],
        check=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("_ROS")},
    )
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "check_env.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, MAESTRO_VENV=str(venv)),
    )
    assert result.returncode == 1
    assert "is incomplete" in result.stderr and "run 'make setup' again" in result.stderr


def test_malformed_interface_build_names_the_file(tmp_path: Path) -> None:
    package = tmp_path / "broken_msgs"
    (package / "msg").mkdir(parents=True)
    (package / "msg" / "Bad.msg").write_text("int99 value\n")
    (package / "package.xml").write_text(
        (ROOT / "maestro_msgs" / "package.xml")
        .read_text()
        .replace("<name>maestro_msgs</name>", "<name>broken_msgs</name>")
    )
    (package / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\nproject(broken_msgs)\nfind_package(ament_cmake REQUIRED)\n"
        "find_package(rosidl_default_generators REQUIRED)\n"
        'rosidl_generate_interfaces(${PROJECT_NAME} "msg/Bad.msg")\nament_package()\n'
    )
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build_msgs.sh"), str(package), sys.prefix],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, MAESTRO_BUILD_DIR=str(tmp_path / "build")),
    )
    assert result.returncode == 1
    assert "ERROR: broken_msgs did not build" in result.stderr
    assert "Bad.msg" in result.stderr or "int99" in result.stderr, result.stderr
    assert not (Path(sys.prefix) / "share" / "broken_msgs").exists()
