"""Bringup specs: parsing, validation with file:line errors, argument substitution."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from maestro_agent.bringup.paths import bringup_specs, share_dir
from maestro_agent.bringup.spec import load_spec, parse_overrides, resolve
from maestro_agent.bringup.supervisor import format_parameter, node_command
from maestro_tools.common.errors import SpecError

GOOD = """\
version: 1
robot: demo
namespace: /maestro
use_sim_time: $(arg sim)
arguments:
  sim: {default: true, description: simulate, choices: [true, false]}
  speed: {default: 0.5, description: arm speed}
  label: {default: "true", description: a string that looks like a bool}
  index: {default: 0, description: an index, range: [0, 9]}
nodes:
  - name: worker
    executable: worker_node
    respawn: true
    parameters:
      speed: $(arg speed)
      label: literal
      gains: [1, 2.5]
    remappings: {image: /camera/$(arg label)/image}
  - name: simulator
    executable: sim_node
    if: $(arg sim)
  - name: driver
    executable: driver_node
    unless: $(arg sim)
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_every_shipped_spec_loads_and_resolves() -> None:
    specs = bringup_specs()
    assert "franka" in specs
    for robot, path in specs.items():
        spec = load_spec(path)
        assert spec.robot == robot
        assert all(a.description for a in spec.arguments)
        resolve(spec, {}, share_dir())


def test_every_simulated_robot_forgets_its_map_when_the_scene_is_reset() -> None:
    for path in bringup_specs().values():
        nodes = {n.name: n for n in resolve(load_spec(path), {"sim": "true"}, share_dir())}
        settings: dict[str, object] = {}
        for file in nodes["semantic_mapper"].param_files:
            for pattern, values in (yaml.safe_load(file.read_text()) or {}).items():
                if pattern.endswith("semantic_mapper") or pattern == "/**":
                    settings.update(values.get("ros__parameters", {}))
        assert settings.get("reset_topic") == "scene", path  # else a sweep's trials share one map


def test_substitution_conditions_and_types(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))
    nodes = resolve(spec, {}, tmp_path)
    assert [n.name for n in nodes] == ["worker", "simulator"]
    worker = nodes[0]
    assert worker.namespace == "/maestro"
    assert worker.parameters == {"use_sim_time": True, "speed": 0.5, "label": "literal", "gains": [1, 2.5]}
    assert worker.remappings == (("image", "/camera/true/image"),)
    real = resolve(spec, parse_overrides(["sim:=false", "speed:=1"]), tmp_path)
    assert [n.name for n in real] == ["worker", "driver"]
    assert real[0].parameters["use_sim_time"] is False
    assert real[0].parameters["speed"] == 1


def test_node_command_quotes_parameters_for_rcl(tmp_path: Path) -> None:
    node = resolve(load_spec(write(tmp_path, GOOD)), {}, tmp_path)[0]
    command = node_command(node, "/bin/worker_node")
    assert command[:6] == ["/bin/worker_node", "--ros-args", "-r", "__node:=worker", "-r", "__ns:=/maestro"]
    assert "use_sim_time:=true" in command and "gains:=[1, 2.5]" in command
    assert format_parameter("true") == "'true'"  # a string stays a string
    assert format_parameter("plain") == "plain"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nrobot: x\nnodes: [\n", "not valid YAML"),
        ("version: 2\nrobot: x\nnodes: []\n", "'version' must be 1"),
        ("version: 1\nrobot: x\nnodes: []\n", "non-empty list"),
        (
            "version: 1\nrobot: x\nnodes:\n  - name: a\n    executable: b\n    colour: red\n",
            ":4: unknown key(s) ['colour']",
        ),
        ("version: 1\nrobot: x\nnodes:\n  - name: a\n", ":4: node is missing 'executable'"),
        (
            "version: 1\nrobot: x\nnodes:\n  - name: a\n    executable: b\n"
            "    parameters: {p: $(arg nope)}\n",
            ":4: node 'a' uses unknown argument 'nope'",
        ),
        (
            "version: 1\nrobot: x\narguments:\n  a: {default: 1}\nnodes: [{name: n, executable: e}]\n",
            "needs a 'default' and a 'description'",
        ),
        (
            "version: 1\nrobot: x\narguments:\n  a: {default: 1, description: d, range: [0]}\n"
            "nodes: [{name: n, executable: e}]\n",
            ":4: argument 'a': range is [lowest, highest], two integers",
        ),
        (
            "version: 1\nrobot: x\narguments:\n  a: {default: 1, description: d, range: [9, 0]}\n"
            "nodes: [{name: n, executable: e}]\n",
            ":4: argument 'a': range is [lowest, highest], two integers",
        ),
        (
            "version: 1\nrobot: x\narguments:\n  a: {default: 12, description: d, range: [0, 9]}\n"
            "nodes: [{name: n, executable: e}]\n",
            "argument 'a' must be an integer from 0 to 9; got '12'",
        ),
        (
            "version: 1\nrobot: x\narguments:\n  a: {default: c, description: d, choices: [b]}\n"
            "nodes: [{name: n, executable: e}]\n",
            ":4: argument 'a' must be one of b; got 'c'",
        ),
        ("version: 1\nrobot: x\nnodes: [{name: n, executable: e}, {name: n, executable: f}]\n", "repeated"),
        (
            "version: 1\nrobot: x\nnodes:\n  - {name: n, executable: e, respawn_max_deaths: 2.5}\n",
            ":4: node 'n': 'respawn_max_deaths' must be a whole number >= 0",
        ),
        (
            "version: 1\nrobot: x\nnodes:\n  - {name: n, executable: e, respawn_window: 0}\n",
            ":4: node 'n': 'respawn_delay' and 'respawn_window' must be seconds",
        ),
    ],
)
def test_malformed_specs_name_the_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(SpecError) as error:
        load_spec(write(tmp_path, text))
    assert expected in str(error.value)
    assert str(tmp_path / "spec.yaml") in str(error.value)


def test_bad_overrides(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, GOOD))
    with pytest.raises(SpecError, match="name:=value"):
        parse_overrides(["sim=false"])
    with pytest.raises(SpecError, match="unknown launch argument 'colour'; valid: sim, speed, label, index"):
        resolve(spec, {"colour": "red"}, tmp_path)
    with pytest.raises(SpecError, match="must be one of true, false"):
        resolve(spec, {"sim": "maybe"}, tmp_path)
    for bad in ("10", "-1", "2.5", "two", ""):
        with pytest.raises(SpecError, match=f"argument 'index' must be an integer from 0 to 9; got '{bad}'"):
            resolve(spec, {"index": bad}, tmp_path)
    assert resolve(spec, {"index": "9"}, tmp_path)  # the ends are in range


def test_respawn_give_up_rule_defaults_and_overrides(tmp_path: Path) -> None:
    text = (
        "version: 1\nrobot: x\nnodes:\n  - {name: a, executable: e, respawn: true}\n"
        "  - {name: b, executable: e, respawn: true, respawn_max_deaths: 0, respawn_window: 5}\n"
    )
    a, b = resolve(load_spec(write(tmp_path, text)), {}, tmp_path)
    assert (a.respawn_max_deaths, a.respawn_window) == (5, 60.0)  # 5 deaths within 60 s: given up
    assert (b.respawn_max_deaths, b.respawn_window) == (0, 5.0)  # 0: never given up
