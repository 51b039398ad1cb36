"""The motion node's moveit backend where moveit_py is absent (every machine without a ROS install)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest


@pytest.mark.skipif(importlib.util.find_spec("moveit") is not None, reason="moveit_py is installed here")
def test_the_moveit_backend_says_what_it_needs_and_the_node_exits_cleanly() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "maestro_tools.motion.node", "--ros-args", "-p", "backend:=moveit"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "backend moveit needs moveit_py" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
