"""The evaluation-only fault layer (maestro_agent/proxy/faults.py) with fakes: rates, seeding, recording,
the RosClient hooks, the sweep dimension and the per-trial seed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from maestro_agent.evaluation.spec import load_spec
from maestro_agent.evaluation.worker import fault_seed
from maestro_agent.proxy.faults import EVENT, MARK, FaultInjector, FaultSpec
from maestro_agent.proxy.ros_client import RosClient
from maestro_tools.common.errors import (
    BackendError,
    InvalidArgumentError,
    NotFoundError,
    SpecError,
    UnreachableError,
)
from maestro_tools.robots import get_robot

GRIPPER = get_robot("franka").gripper


def injector(text: str, seed: int = 0) -> tuple[FaultInjector, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    faults = FaultInjector(
        FaultSpec.parse(text), GRIPPER, seed, emit=lambda k, **f: events.append({"kind": k, **f})
    )
    return faults, events


def outcomes(faults: FaultInjector, service: str, n: int) -> list[bool]:
    failed = []
    for _ in range(n):
        try:
            faults.before_call(service)
            failed.append(False)
        except (BackendError, NotFoundError):
            failed.append(True)
    return failed


def test_spec_parsing_names_the_valid_kinds() -> None:
    assert (
        FaultSpec.parse("none") == FaultSpec() and str(FaultSpec.parse("tool_error:0.20")) == "tool_error:0.2"
    )
    for bad in ("tool_error", "tool_error:0", "tool_error:1.5", "crash:0.1", "empty:x"):
        with pytest.raises(InvalidArgumentError, match="tool_error"):
            FaultSpec.parse(bad)


def test_tool_errors_come_at_the_rate_typed_and_recorded() -> None:
    faults, events = injector("tool_error:0.2")
    failed = outcomes(faults, "/maestro/detect", 4000)
    assert 0.17 < sum(failed) / len(failed) < 0.23
    assert len(events) == sum(failed) == faults.injected
    assert (
        events[0]["kind"] == EVENT
        and events[0]["fault"] == "tool_error"
        and events[0]["endpoint"] == "detect"
    )
    with pytest.raises(BackendError, match=MARK):
        while True:
            faults.before_call("plan_grasp")
    with pytest.raises(UnreachableError, match=MARK):  # the motion's own typed error, before the goal is sent
        while True:
            faults.before_goal("move_arm")
    for _ in range(200):  # neither the gripper (the robot interface) nor the map's updates
        faults.before_goal("gripper_controller/gripper_cmd")
        faults.before_call("update_map")


def test_empty_answers_only_queries_and_other_kinds_inject_nothing() -> None:
    faults, events = injector("empty:0.5")
    with pytest.raises(NotFoundError, match="found nothing"):
        while True:
            faults.before_call("point")
    for _ in range(200):
        faults.before_call("query_map")
        faults.before_goal("move_arm")
    assert {e["fault"] for e in events} == {"empty"}
    quiet, none_events = injector("none")
    assert not any(outcomes(quiet, "detect", 200)) and not none_events


def test_the_same_seed_injects_the_same_faults() -> None:
    first, _ = injector("tool_error:0.3", seed=7)
    again, _ = injector("tool_error:0.3", seed=7)
    other, _ = injector("tool_error:0.3", seed=8)
    sequence = outcomes(first, "detect", 300)
    assert sequence == outcomes(again, "detect", 300)
    assert sequence != outcomes(other, "detect", 300)
    first.start_trial(7)  # a new goal with the same seed replays the draws
    assert outcomes(first, "detect", 300) == sequence


def close(position: float = 0.0) -> Any:
    return SimpleNamespace(command=SimpleNamespace(position=position))


def test_a_grasp_that_held_slips_before_the_next_motion() -> None:
    faults, events = injector("grasp_slip:1.0")
    released: list[bool] = []
    faults.release = lambda: released.append(True)
    held = SimpleNamespace(position=0.02)  # one finger at 2 cm: stopped on a 4 cm object
    faults.after_gripper(close(), SimpleNamespace(position=0.0))  # closed on nothing: no slip
    faults.before_goal("move_arm")
    assert not released
    faults.after_gripper(close(), held)
    faults.before_goal("gripper_controller/gripper_cmd")  # not a motion: still held
    assert not released
    faults.before_goal("move_arm")
    faults.before_goal("move_arm")  # one slip per grasp
    assert released == [True] and events[-1]["fault"] == "grasp_slip" and MARK in events[-1]["message"]
    faults.after_gripper(close(), held)
    faults.after_gripper(close(0.04), SimpleNamespace(position=0.04))  # the code opened it itself
    faults.before_goal("move_arm")
    assert released == [True]


def test_ros_client_calls_the_hooks_before_anything_is_sent() -> None:
    faults, events = injector("tool_error:1.0")
    fake = SimpleNamespace(faults=faults, gate=None)
    with pytest.raises(BackendError, match=MARK):
        RosClient.call(fake, SimpleNamespace(srv_name="detect"), object(), 1.0)  # type: ignore[arg-type]
    with pytest.raises(UnreachableError, match=MARK):
        RosClient.act(fake, SimpleNamespace(_action_name="move_arm"), object(), 1.0)  # type: ignore[arg-type]
    assert [e["endpoint"] for e in events] == ["detect", "move_arm"]


def spec_file(tmp_path: Path, faults: str) -> Path:
    path = tmp_path / "faults.yaml"
    path.write_text(
        "version: 1\nname: f\nrobot: franka\ntasks: [ball_in_bowl]\n"
        f"matrix:\n  vlm: [scripted]\n  faults: {faults}\n"
    )
    return path


def test_faults_is_a_sweep_dimension_and_a_launch_argument(tmp_path: Path) -> None:
    spec = load_spec(spec_file(tmp_path, '[none, "tool_error:0.2", "grasp_slip:0.30"]'))
    configs = spec.configurations()
    assert [c.label for c in configs] == [
        "scripted+harness",  # "none" keeps the labels (and trial keys) of sweeps without faults
        "scripted+harness+faults=tool_error:0.2",
        "scripted+harness+faults=grasp_slip:0.3",
    ]
    assert "faults:=tool_error:0.2" in configs[1].launch and not any("faults" in a for a in configs[0].launch)
    assert [t.to_json()["dimensions"]["faults"] for t in spec.expand()] == [
        "none",
        "tool_error:0.2",
        "grasp_slip:0.3",
    ]
    with pytest.raises(SpecError, match=r"faults\.yaml: unknown fault kind 'slip'; valid: none, tool_error"):
        load_spec(spec_file(tmp_path, '["slip:0.1"]'))


def test_a_trial_s_fault_seed_is_stable() -> None:
    key = "ball_in_bowl/none/0/scripted+harness+faults=empty:0.2/0"
    assert fault_seed(key) == 361234863  # crc32 of the key: the same in every process and executor
    assert fault_seed(key) != fault_seed(key[:-1] + "1")
