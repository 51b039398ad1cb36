"""What the react observation keeps: the head and tail of long output, each failed call once, the limits."""

from __future__ import annotations

from maestro_agent.prompt import Step, head_and_tail, react_message, system_prompt
from maestro_agent.proxy.gate import GateLimits
from maestro_agent.sandbox import SandboxLimits
from maestro_agent.tool_sandbox import describe_limits


def test_long_output_keeps_its_first_and_last_results() -> None:
    text = "first detections\n" + "x" * 10_000 + "\nfinal state"
    cut = head_and_tail(text, 300)
    assert cut.startswith("first detections") and cut.endswith("final state")
    assert "characters cut" in cut and len(cut) < 360
    assert head_and_tail("short", 300) == "short"


def test_the_failure_that_ended_the_substep_appears_once() -> None:
    error = "GraspFailedError: the gripper closed on nothing (line 3: `robot.grasp()`)"
    step = Step(1, "grasp", "robot.grasp()", "error", "", error)
    failures = ["robot.grasp(): the gripper closed on nothing", "perception.detect('cup'): NotFoundError x"]
    text = "\n".join(
        p for p in react_message("t", ["grasp"], 0, step, [], failures, []).parts if isinstance(p, str)
    )
    assert text.count("closed on nothing") == 1 and "perception.detect('cup')" in text


def test_the_system_prompt_states_the_limits() -> None:
    limits = describe_limits(SandboxLimits(wall_s=90.0), GateLimits(max_speed=0.5, supervised=True))
    prompt = system_prompt("franka", True, limits)
    assert "## Limits" in prompt and "90 s of wall time" in prompt and "speed at most 0.5" in prompt
    assert "operator's confirmation" in prompt and "math, time" in prompt
