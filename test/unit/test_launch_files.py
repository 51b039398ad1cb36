"""The ROS launch files: they compile, map spec nodes to launch_ros kwargs, and build on stock ROS."""

from __future__ import annotations

import py_compile
from pathlib import Path

import pytest

from maestro_agent.bringup.launcher import spec_for
from maestro_agent.bringup.paths import bringup_specs, share_dir
from maestro_agent.bringup.ros_launch import node_kwargs
from maestro_agent.bringup.spec import resolve

LAUNCH = Path(__file__).resolve().parents[2] / "launch"


def test_one_launch_file_per_bringup_spec() -> None:
    assert {p.name for p in LAUNCH.glob("*.launch.py")} >= {f"{robot}.launch.py" for robot in bringup_specs()}
    for path in LAUNCH.glob("*.py"):
        py_compile.compile(str(path), doraise=True)


def test_node_kwargs_carry_everything_the_supervisor_passes() -> None:
    node = resolve(spec_for("franka"), {"task": "clean_table"}, share_dir())[0]
    kwargs = node_kwargs(node)
    assert kwargs["name"] == "sim" and kwargs["namespace"] == "/maestro" and kwargs["respawn"] is True
    assert kwargs["parameters"][-1]["task"] == "clean_table"
    assert kwargs["parameters"][-1]["use_sim_time"] is True
    assert kwargs["parameters"][0].endswith("config/franka/params.yaml")


@pytest.mark.parametrize("robot", sorted(bringup_specs()))
def test_launch_description_on_stock_ros(robot: str) -> None:
    pytest.importorskip("launch_ros", reason="launch_ros exists only on a stock ROS install")
    import runpy

    module = runpy.run_path(str(LAUNCH / f"{robot}.launch.py"))
    description = module["generate_launch_description"]()
    assert description.entities
