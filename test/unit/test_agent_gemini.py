"""The agent loop with the real google-genai SDK against a fake Gemini server: what the model is sent
(system prompt with the generated tool docs, images, the observation) and how messy replies are read."""

from __future__ import annotations

import base64

import cv2
import numpy as np

from maestro_agent.loop import Agent, LoopConfig
from maestro_agent.prompt import system_prompt
from maestro_tools.vlm.gemini import GeminiVLM
from test.fakes.gemini_server import FakeGeminiServer
from test.unit.test_loop import Events, FakeExecution, FakeScene

PLAN = """Sure! The ball is on the left. Here is my plan.
```json
{'subtasks': ['pick up the ball', 'drop it into the bowl',],}
```
First I grasp it:
```python
held = grasping.pick("tennis ball")
print(held)
```
"""
REACT = """The gripper holds the ball (fraction 0.2), so I go on.
Decision: continue
```python
bowl = perception.locate("bowl")
robot.move_gripper_to(bowl.position + np.array([0, 0, 0.14]))
```
```python
robot.open_gripper()
```"""
DONE = '{"decision": "done", "reason": "the ball is in the bowl"}'


class Sandbox:
    def __init__(self) -> None:
        self.runs: list[str] = []

    def run(self, code: str) -> FakeExecution:
        self.runs.append(code)
        image = np.zeros((480, 640, 3), np.uint8)
        image[:, :, 0] = 200
        return FakeExecution(stdout=f"run {len(self.runs)}: holding=True", images=(("grasps", image),))

    def reset(self) -> None:
        pass

    def cancel(self) -> None:
        pass


def _images(request_body: dict) -> list[np.ndarray]:
    found = []
    for content in request_body["contents"]:
        for part in content["parts"]:
            inline = part.get("inline_data") or part.get("inlineData")
            if inline:
                raw = inline["data"]
                data = np.frombuffer(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), np.uint8)
                found.append(cv2.imdecode(data, cv2.IMREAD_COLOR))
    return found


def _text(request_body: dict) -> str:
    return "\n".join(p.get("text", "") for c in request_body["contents"] for p in c["parts"])


def test_a_trial_through_the_real_sdk_sends_tool_docs_and_images_and_reads_messy_replies() -> None:
    with FakeGeminiServer() as server:
        server.reply(PLAN)
        server.reply(REACT)
        server.reply(DONE)
        vlm = GeminiVLM(api_key="test-key", base_url=server.url, retries=0, backoff_s=0.01, timeout_s=10)
        sandbox, events = Sandbox(), Events()
        agent = Agent(vlm, sandbox, FakeScene(), events, LoopConfig(), system_prompt("franka"))
        result = agent.run_task("Put the tennis ball into the bowl.")
    assert (result.success, result.substeps, result.replans) == (True, 2, 0)
    assert sandbox.runs[0].startswith('held = grasping.pick("tennis ball")')
    assert sandbox.runs[1].endswith("robot.open_gripper()")  # both python blocks, in order
    plan, react, _ = (r.body for r in server.requests)
    system = "".join(
        p["text"] for p in (plan.get("system_instruction") or plan["systemInstruction"])["parts"]
    )
    for tool in (
        "robot.move_gripper_to(",
        "perception.locate(",
        "grasping.pick(",
        "geometry.rotate_by(",
        "image_editor.draw_point(",
        "done(",
        "GraspCandidate(",
    ):
        assert tool in system, f"{tool} missing from the system prompt's tool docs"
    assert "Task: Put the tennis ball into the bowl." in _text(plan)
    assert len(_images(plan)) == 1  # FakeScene has one camera
    react_text = _text(react)
    assert "run 1: holding=True" in react_text and "pick up the ball" in react_text
    shown = _images(react)
    assert len(shown) == 2 and shown[0][:, :, 2].mean() > 150  # the tool's drawing (red, BGR-decoded)
    tokens = [f for k, f in events.items if k == "tokens"]
    assert [t["input_tokens"] for t in tokens] == [11, 11, 11]
