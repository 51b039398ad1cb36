"""The closed loop with a scripted VLM, a fake sandbox and a fake scene (no ROS, no robot)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from maestro_agent.loop import Agent, LoopConfig, TaskCancelledError
from maestro_agent.replies import ReplyFormatError
from maestro_agent.scripted_vlm import ScriptedVLM
from maestro_tools.vlm.base import Usage, VLMReply, VLMRequest

PROGRAM = """
version: 1
name: fake_pick
instructions: ["pick the cube"]
subtasks: ["grasp the cube", "lift it"]
steps:
  - code: |
      print(grasp(height))
    judge:
      - when: {contains: ["closed on nothing"]}
        decision: retry
        reason: missed; lower
        code: |
          height = 0.02
          print(grasp(height))
      - decision: continue
        reason: held
  - code: |
      print("lifted")
    judge:
      - when: {contains: ["lifted"]}
        decision: complete
        reason: done
reflection: grasp lower next time
"""


@dataclass
class FakeExecution:
    status: str = "ok"
    stdout: str = ""
    error: str = ""
    images: tuple = ()
    events: tuple = ()


@dataclass
class FakeSandbox:
    """Runs nothing: answers by what the code asks for, as the sim would (a grasp above 3 cm misses)."""

    runs: list[str] = field(default_factory=list)
    resets: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)
    block: bool = False

    def run(self, code: str) -> FakeExecution:
        self.runs.append(code)
        if self.block:
            self.cancelled.wait(5)
            return FakeExecution(status="cancelled", error="SandboxCancelled")
        if "height = 0.02" in code:
            return FakeExecution(stdout="holding=True")
        if "grasp(height)" in code:
            return FakeExecution(
                status="error",
                error="GraspFailedError: closed on nothing (line 1)",
                events=(
                    {
                        "kind": "tool_call",
                        "module": "robot",
                        "function": "grasp",
                        "arguments": "",
                        "success": False,
                        "message": "closed on nothing",
                    },
                ),
            )
        return FakeExecution(stdout="lifted", images=(("grasp", np.zeros((8, 8, 3), np.uint8)),))

    def reset(self) -> None:
        self.resets += 1

    def cancel(self) -> None:
        self.cancelled.set()


class FakeScene:
    def __init__(self, score: float = 100.0) -> None:
        self.score, self.prepared = score, []

    def snapshot(self, cameras=("scene", "wrist")):
        return [("scene camera", np.full((8, 8, 3), 100, np.uint8))]

    def progress(self) -> float:
        return self.score

    def prepare_trial(self, index: int) -> None:
        self.prepared.append(index)


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, dict]] = []

    def record(self, kind: str, **fields) -> None:
        self.items.append((kind, fields))

    def kinds(self) -> list[str]:
        return [k for k, _ in self.items]


@pytest.fixture
def vlm(tmp_path: Path) -> ScriptedVLM:
    (tmp_path / "fake_pick.yaml").write_text(PROGRAM)
    return ScriptedVLM(tmp_path)


def agent_for(vlm, sandbox=None, scene=None, events=None, **config) -> Agent:
    return Agent(
        vlm, sandbox or FakeSandbox(), scene or FakeScene(), events or Events(), LoopConfig(**config), "sys"
    )


def test_a_miss_is_replanned_once_and_the_task_completes(vlm) -> None:
    events, sandbox = Events(), FakeSandbox()
    result = agent_for(vlm, sandbox, events=events).run_task("pick the cube")
    assert (result.success, result.progress, result.substeps, result.replans) == (True, 100.0, 3, 1)
    assert sandbox.runs[1].startswith("height = 0.02")
    phases = [f["phase"] for k, f in events.items if k == "phase"]
    assert phases[:4] == ["planning", "executing", "reacting", "replanning"]
    assert "replan" in events.kinds() and events.kinds()[-1] == "outcome"


def test_a_complete_that_the_scene_does_not_confirm_is_a_failure(vlm) -> None:
    result = agent_for(vlm, scene=FakeScene(score=40.0)).run_task("pick the cube")
    assert not result.success and "scores 40/100" in result.summary


def test_the_substep_budget_ends_the_trial(vlm) -> None:
    result = agent_for(vlm).run_task("pick the cube", max_substeps=1)
    assert not result.success and result.substeps == 1 and "budget" in result.summary


def test_failed_trials_reflect_and_the_next_trial_gets_the_lesson(vlm) -> None:
    scene, events = FakeScene(score=0.0), Events()
    result = agent_for(vlm, scene=scene, events=events).run_task("pick the cube", trials=2)
    assert not result.success and scene.prepared == [1]
    reflections = [f["text"] for k, f in events.items if k == "reflection"]
    assert reflections == ["grasp lower next time"]


def test_an_unusable_reply_is_corrected_once_then_fails(vlm) -> None:
    class Garbled:
        name, model = "garbled", "garbled"

        def __init__(self) -> None:
            self.requests: list[VLMRequest] = []

        def generate(self, request: VLMRequest) -> VLMReply:
            self.requests.append(request)
            return VLMReply("I would rather not write code.", Usage(), "garbled", 0.0)

    garbled = Garbled()
    with pytest.raises(ReplyFormatError):
        agent_for(garbled).run_task("pick the cube")
    assert len(garbled.requests) == 2
    assert "could not be used" in garbled.requests[1].messages[-1].text


def test_cancel_stops_the_running_substep_and_the_loop(vlm) -> None:
    sandbox = FakeSandbox(block=True)
    agent = agent_for(vlm, sandbox)
    threading.Timer(0.2, agent.cancel).start()
    with pytest.raises(TaskCancelledError):
        agent.run_task("pick the cube")
    assert sandbox.cancelled.is_set()


def test_an_empty_instruction_is_refused(vlm) -> None:
    with pytest.raises(ValueError, match="instruction is empty"):
        agent_for(vlm).run_task("  ")
