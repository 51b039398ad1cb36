"""The Franka bringup's vla argument: none starts no bridge, warp the warp policy server and the bridge
pointed at it, a ws:// URL only the bridge pointed at that server; the agent is told which. And the
bridge's trajectory clock, which paces a chunk's steps by the controller's feedback."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from maestro_agent.bringup.spec import load_spec, resolve
from maestro_tools.vla.goals import TrajectoryClock

ROOT = Path(__file__).resolve().parents[2]


def _nodes(vla: str) -> dict[str, object]:
    spec = load_spec(ROOT / "config" / "bringup" / "franka.yaml")
    return {n.name: n for n in resolve(spec, {"vla": vla, "vla_demos": "/data/demos"}, ROOT)}


def test_without_vla_no_bridge_runs_and_the_agent_knows() -> None:
    nodes = _nodes("none")
    assert "vla_bridge" not in nodes and "warp_policy" not in nodes
    assert nodes["agent"].parameters["vla"] == "none"


def test_warp_starts_the_server_on_the_demonstrations_and_the_bridge_at_it() -> None:
    nodes = _nodes("warp")
    server, bridge = nodes["warp_policy"], nodes["vla_bridge"]
    assert server.executable == "warp_policy_server" and server.required
    assert server.arguments[0] == "/data/demos" and "--port" in server.arguments
    port = server.arguments[server.arguments.index("--port") + 1]
    assert bridge.parameters["server_url"] == "warp"
    assert bridge.parameters["policy_servers"] == [f"warp=ws://127.0.0.1:{port}"]
    assert nodes["agent"].parameters["vla"] == "warp"


def test_a_url_starts_only_the_bridge() -> None:
    nodes = _nodes("ws://10.0.0.7:8000")
    assert "warp_policy" not in nodes and nodes["vla_bridge"].parameters["server_url"] == "ws://10.0.0.7:8000"


def test_missing_demonstrations_say_how_to_make_them(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from maestro_tools.vla.warp_policy import main

    assert main([str(tmp_path / "none"), "--ros-args", "-p", "use_sim_time:=true"]) == 2
    assert "maestro data collect" in capsys.readouterr().err


def test_the_clock_follows_the_controllers_feedback() -> None:
    clock = TrajectoryClock()
    time.sleep(0.02)
    assert clock.elapsed() >= 0.02  # no feedback yet: the wall clock

    def feedback(sec: int, nanosec: int) -> SimpleNamespace:
        stamp = SimpleNamespace(sec=sec, nanosec=nanosec)
        return SimpleNamespace(feedback=SimpleNamespace(desired=SimpleNamespace(time_from_start=stamp)))

    clock.on_feedback(feedback(0, 0))  # unset by the controller: still the wall clock
    assert clock.reported is None
    clock.on_feedback(feedback(0, 5_000_000))  # a slow simulation: 5 ms in
    assert clock.elapsed() == pytest.approx(0.005)
