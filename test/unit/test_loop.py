"""The closed loop with a scripted VLM, a fake sandbox and a fake scene (no ROS, no robot)."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from maestro_agent.loop import Agent, LoopConfig, TaskCancelledError, check_task, quote
from maestro_agent.replies import ReplyFormatError
from maestro_agent.scripted_vlm import ScriptedVLM
from maestro_agent.traces.recorder import TraceRecorder
from maestro_agent.traces.store import TraceStore
from maestro_agent.traces.video import VideoRecorder, choose_keyframes
from maestro_tools.vlm.base import Usage, VLMReply, VLMRequest, VLMUnavailable

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
    def __init__(self, score: float = 100.0, overview_camera: str = "scene") -> None:
        self.score, self.prepared, self.overview_camera = score, [], overview_camera
        self.asked: list[tuple[str, ...]] = []

    def snapshot(self, cameras=("scene", "wrist")):
        self.asked.append(tuple(cameras))
        return [(f"{cameras[0]} camera", np.full((8, 8, 3), 100, np.uint8))]

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


def test_after_each_substep_the_vlm_sees_the_robots_overview_camera(vlm) -> None:
    scene, events = FakeScene(overview_camera="head"), Events()  # a mobile robot: no "scene" camera
    agent_for(vlm, scene=scene, events=events).run_task("pick the cube")
    assert scene.asked.count(("head",)) == 3  # once per substep
    labels = [f["label"] for k, f in events.items if k == "image"]
    assert labels.count("head camera") == 3 and ("scene",) not in scene.asked


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


class StallingVLM:
    """A VLM whose calls hang (a stalled server) until released or 60 s passed."""

    name, model = "stalling", "stalling"

    def __init__(self) -> None:
        self.release, self.calls = threading.Event(), 0

    def generate(self, request: VLMRequest) -> VLMReply:
        self.calls += 1
        self.release.wait(60)
        return VLMReply("too late", Usage(), "stalling", 60.0)


def test_cancel_is_honoured_while_a_vlm_call_stalls() -> None:
    vlm, events = StallingVLM(), Events()
    agent = agent_for(vlm, events=events)
    threading.Timer(0.3, agent.cancel, kwargs={"reason": "the client cancelled the goal"}).start()
    started = time.monotonic()
    with pytest.raises(TaskCancelledError, match="the client cancelled"):
        agent.run_task("pick the cube")
    latency = time.monotonic() - started - 0.3
    vlm.release.set()
    assert vlm.calls == 1 and latency < 0.5, latency
    (outcome,) = [f for k, f in events.items if k == "outcome"]
    assert outcome["outcome"] == "cancelled" and outcome["trial_id"] == agent.trial.trial_id
    assert "cancelled after 0 substep(s)" in outcome["summary"] and outcome["progress"] == 100.0


class Broken:
    """A VLM or sandbox that raises ``error`` when used."""

    name, model = "broken", "broken"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def generate(self, request: VLMRequest) -> VLMReply:
        raise self.error

    def run(self, code: str) -> FakeExecution:
        raise self.error

    def reset(self) -> None:
        pass

    def cancel(self) -> None:
        pass


@pytest.mark.parametrize(
    ("case", "kind", "success"),
    [
        ("complete", "success", True),
        ("scene disagrees", "failed", False),
        ("budget", "budget_exhausted", False),
        ("garbled", "unusable_reply", False),
        ("vlm down", "vlm_error", False),
        ("sandbox crash", "error", False),
        ("cancel", "cancelled", False),
    ],
)
def test_every_trial_end_records_one_outcome(vlm, case: str, kind: str, success: bool) -> None:
    events, sandbox, scene, model, budget = Events(), FakeSandbox(), FakeScene(), vlm, 0
    if case == "scene disagrees":
        scene = FakeScene(score=40.0)
    elif case == "budget":
        budget = 1
    elif case == "garbled":
        model = Broken(ReplyFormatError("no code block"))
    elif case == "vlm down":
        model = Broken(VLMUnavailable("the server kept failing after 4 retries"))
    elif case == "sandbox crash":
        sandbox = Broken(RuntimeError("the sandbox process vanished"))
    elif case == "cancel":
        sandbox = FakeSandbox(block=True)
    agent = agent_for(model, sandbox, scene, events)
    if case == "cancel":
        threading.Timer(0.2, agent.cancel).start()
    try:
        agent.run_task("pick the cube", max_substeps=budget)
    except Exception as exc:
        assert kind not in ("success", "failed", "budget_exhausted"), exc
    outcomes = [f for k, f in events.items if k == "outcome"]
    assert [o["outcome"] for o in outcomes] == [kind]
    assert outcomes[0]["success"] is success and outcomes[0]["trial_id"] == agent.trial.trial_id
    assert outcomes[0]["reason"] and outcomes[0]["summary"] and outcomes[0]["progress"] == scene.score


def test_goal_limits_are_refused_quoting_only_a_prefix(vlm) -> None:
    long = "put the ball " + "x" * 1_000_000
    with pytest.raises(ValueError) as refused:
        agent_for(vlm).run_task(long, max_substeps=10**9, trials=10**6)
    message = str(refused.value)
    assert "1000013 characters, more than 4000" in message and len(message) < 400
    assert "max_substeps must be 0 (the default) to 200, not 1000000000" in message
    assert "trials must be 0 or 1 (one trial) to 20, not 1000000" in message
    check_task("x" * 4000, 200, 20)  # the limits themselves are accepted
    assert quote("y" * 500) == repr("y" * 80) + "... (500 characters)"


def test_keyframes_are_spread_over_the_video_and_at_its_failures() -> None:
    timeline = [(1000.0 + 0.5 * k, k // 20) for k in range(100)]  # 50 s at 2 fps, substeps of 10 s
    failures = [(1010.2, "robot.grasp failed: closed on nothing"), (1030.0, "perception.detect failed")]
    chosen = choose_keyframes(timeline, failures, count=8)
    indices = [i for i, _ in chosen]
    assert len(chosen) == 8 and indices == sorted(indices) and {0, 21, 60, 99} <= set(indices)
    labels = dict(chosen)
    assert labels[0] == "video 0.0 s, planning"
    assert labels[21] == "video 10.5 s, substep 1, just after robot.grasp failed: closed on nothing"
    assert labels[60] == "video 30.0 s, substep 3, just after perception.detect failed"
    spread = [i for i in indices if i not in (21, 60)]
    assert max(np.diff(spread)) - min(np.diff(spread)) <= 2  # evenly spaced over the rest
    many = [(1000.0 + k, f"failure {k}") for k in range(10)]  # more failures than slots: spread over them
    at_failures = [label for _, label in choose_keyframes(timeline, many, 8) if "just after" in label]
    assert [label.split("just after ")[1] for label in at_failures] == ["failure 0", "failure 4", "failure 9"]
    assert choose_keyframes(timeline[:3], failures, 8) == [
        (0, "video 0.0 s, planning"),
        (1, "video 0.5 s, planning"),
        (2, "video 1.0 s, planning, just after robot.grasp failed: closed on nothing, just after "
         "perception.detect failed"),
    ]  # fmt: skip
    assert choose_keyframes([], failures, 8) == []


class Capturing:
    """A VLM that keeps the requests it answers."""

    def __init__(self, vlm) -> None:
        self.vlm, self.name, self.model, self.requests = vlm, vlm.name, vlm.model, []

    def generate(self, request: VLMRequest) -> VLMReply:
        self.requests.append(request)
        return self.vlm.generate(request)


def test_the_reflection_sees_keyframes_of_the_trials_video(vlm, tmp_path: Path) -> None:
    store = TraceStore(tmp_path, batch_s=0.01)
    count = itertools.count()
    video = VideoRecorder(store, lambda timeout: np.full((48, 64, 3), 5 * next(count) % 250, np.uint8), 20.0)
    recorder = TraceRecorder(store, video=video, mark_interrupted=False)
    scene = FakeScene(score=0.0)  # every trial fails: the first is reflected on
    scene.video = video

    class LiveSandbox(FakeSandbox):
        """Takes its time and streams its tool calls to the recorder, as the real sandbox does."""

        def run(self, code: str) -> FakeExecution:
            time.sleep(0.2)
            execution = super().run(code)
            for event in execution.events:
                recorder.record(**event)
            time.sleep(0.2)
            return execution

    class Thinking(Capturing):
        """Takes its time to plan, as a real model does: the video's first frames show the planning."""

        def generate(self, request: VLMRequest) -> VLMReply:
            if request.purpose == "plan":
                time.sleep(0.2)
            return super().generate(request)

    model = Thinking(vlm)
    agent_for(model, LiveSandbox(), scene, recorder).run_task("pick the cube", trials=2)
    store.close()
    (reflect,) = [r for r in model.requests if r.purpose == "reflect"]
    parts = reflect.messages[0].parts
    labels = [p.removeprefix("Frame: ") for p in parts if isinstance(p, str) and p.startswith("Frame: ")]
    images = [p for p in parts if isinstance(p, np.ndarray)]
    assert len(labels) == len(images) == 8 and labels[0].startswith("video 0.0 s, planning")
    (failure,) = [label for label in labels if "just after" in label]
    assert failure.endswith("substep 1, just after robot.grasp failed: closed on nothing")
    times = [float(label.split()[1]) for label in labels]
    assert times == sorted(times) and times[-1] > 1.0  # the trial's span, to its end
    shades = [int(image[0, 0, 0]) for image in images]
    assert shades == sorted(shades) and len(set(shades)) == 8  # distinct frames, in order
