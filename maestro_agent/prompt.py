"""The agent's prompts: system prompt (rules, reply format, generated tool docs, an example) and the
plan / react / reflect messages. Plain text + images; the VLM backends encode them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from maestro_tools.vlm.base import Message

ROLE = """You control a robot arm by writing Python. You plan a task as subtasks, write the code for one
substep at a time, then look at what came back (printed output, errors, and camera images on which the
tools drew what they found) and decide how to go on. The robot is real or simulated: check results in
the images and the printed state before you declare success."""

RULES = """Rules for the code:
- Python 3 with the objects below already defined; `np` is numpy, and math, time, itertools, collections,
  functools, random, statistics, copy, json, re, typing and dataclasses are imported (no other imports).
- No files, no os/sys, no attributes starting with "_", no eval/exec/open/getattr, no str.format
  (use f-strings). Variables persist between substeps of one trial.
- print() what you need to judge the substep (positions, gripper state): you see the printed text.
- A tool error ends the substep; its message says what to try next.
- Keep a substep short: one subtask or less (for example: locate and grasp, or move and release)."""

PLAN_FORMAT = """Reply with: a short reasoning, then the subtasks as
```json
{"subtasks": ["first subtask", "second subtask"]}
```
then the code of the first substep in one ```python block."""

REACT_FORMAT = """Reply with: a short reasoning about what the output and images show, then
```json
{"decision": "continue | retry | replan | complete | failed", "reason": "...",
 "current_subtask": 0, "progress": 0}
```
- continue: the substep worked; give the code of the next substep.
- retry: it did not work; give corrected code for the same subtask (e.g. 1 cm lower, another camera).
- replan: the plan is wrong; add "subtasks": [...] with the new plan and give the code for its first substep.
- complete: the whole task is done (no code). failed: it cannot be done (no code).
"current_subtask" is the 0-based index of the subtask the next code works on.
Then the code in one ```python block (except for complete and failed)."""

EXAMPLE = """Example of a substep's code:
```python
ball = perception.locate("tennis ball")
print(ball)
state = grasping.pick("tennis ball")
print(robot.get_state())
```"""

BASE_EXAMPLE = """Example of a substep's code:
```python
view = robot.get_observation()
print(view)
print(robot.move_gripper_to([0.5, 0.0, 0.2], [np.pi, 0.0, 0.0]))
```"""


@cache
def system_prompt(robot: str, harness: bool = True, limits: str = "", tool_group: str = "S3") -> str:
    """``limits``: what the code runs under (time, memory, output, motion), as the agent configured it;
    ``tool_group``: the tools the code gets (proxy.registry.TOOL_GROUPS)."""
    from maestro_agent.proxy.docs import describe_tools  # imports the proxy's ROS clients

    example = BASE_EXAMPLE if tool_group in ("S0", "S1") else EXAMPLE  # S2 brings grasping
    sections = [ROLE, RULES, "## Tools\n" + describe_tools(robot, harness, tool_group), example]
    if limits:
        sections.insert(2, "## Limits\n" + limits)
    return "\n\n".join(sections)


@dataclass(frozen=True)
class Step:
    """One executed substep, as the react and reflect prompts summarise it."""

    index: int
    subtask: str
    code: str
    status: str  # the sandbox's status: ok, error, violation, timeout, cancelled, crashed
    stdout: str
    error: str
    decision: str = ""
    reason: str = ""


def _numbered(subtasks: Sequence[str], current: int | None = None) -> str:
    return "\n".join(f"{'->' if k == current else '  '} {k}. {s}" for k, s in enumerate(subtasks)) or "(none)"


def head_and_tail(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters by dropping its middle: the first and the last results count."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 5
    tail = text[len(text) - (limit - head) :]
    return f"{text[:head]}\n[... {len(text) - limit} characters cut ...]\n{tail}"


MEMORY = "What the semantic map remembers (positions where last seen; may be out of date):\n"


def plan_message(
    instruction: str,
    images: Sequence[tuple[str, np.ndarray]],
    history: Sequence[str],
    memory: str = "",
) -> Message:
    """``memory``: the semantic map's description ("" without a mapper)."""
    parts: list[str | np.ndarray] = [f"Task: {instruction}"]
    if history:
        parts.append("Lessons from earlier trials of this task:\n" + "\n".join(f"- {h}" for h in history))
    if memory:
        parts.append(MEMORY + memory)
    for label, image in images:
        parts += [f"Image: {label}", image]
    parts.append(PLAN_FORMAT)
    return Message("user", tuple(parts))


def react_message(
    instruction: str,
    subtasks: Sequence[str],
    current: int,
    step: Step,
    earlier: Sequence[Step],
    tool_failures: Sequence[str],
    images: Sequence[tuple[str, np.ndarray]],
    stdout_limit: int = 3000,
    memory: str = "",
) -> Message:
    parts: list[str | np.ndarray] = [f"Task: {instruction}", "Plan:\n" + _numbered(subtasks, current)]
    if earlier:
        parts.append(
            "Earlier substeps:\n"
            + "\n".join(
                f"- {s.index}: {s.subtask}: {s.status}; {s.decision} ({s.reason})" for s in earlier[-6:]
            )
        )
    parts.append(f"Substep {step.index} ({step.subtask}) ran this code:\n```python\n{step.code}\n```")
    parts.append(f"Status: {step.status}")
    parts.append("Printed output:\n" + (head_and_tail(step.stdout, stdout_limit) or "(nothing)"))
    if step.error:
        parts.append(f"Error: {step.error}")
    # each failure once: the one that ended the substep is the error above
    others = [f for f in tool_failures if f.partition("): ")[2] not in step.error]
    if others:
        parts.append("Tool calls that failed:\n" + "\n".join(f"- {f}" for f in others[-8:]))
    if memory:
        parts.append(MEMORY + memory)
    for label, image in images:
        parts += [f"Image: {label}", image]
    parts.append(REACT_FORMAT)
    return Message("user", tuple(parts))


def correction_message(error: str, purpose: str) -> Message:
    expected = PLAN_FORMAT if purpose == "plan" else REACT_FORMAT
    return Message("user", (f"Your reply could not be used: {error}\n{expected}",))


def reflect_message(
    instruction: str,
    outcome: str,
    progress: float,
    steps: Sequence[Step],
    keyframes: Sequence[tuple[str, np.ndarray]],
) -> Message:
    score = f"{progress:.0f}/100" if progress >= 0 else "not scored"
    parts: list[str | np.ndarray] = [
        f"Task: {instruction}\nThe trial ended: {outcome}; progress {score}.",
        "Its substeps:\n"
        + "\n\n".join(
            f"{s.index}. {s.subtask} [{s.status}; {s.decision}: {s.reason}]\n```python\n{s.code}\n```"
            + (f"\nerror: {s.error}" if s.error else "")
            for s in steps
        ),
    ]
    for label, image in keyframes:
        parts += [f"Frame: {label}", image]
    parts.append(
        "Review the frames, code and outcome. Write a short reflection for the next trial: what went wrong "
        "or slowly, and concretely what to do differently (offsets, order, which tools). Plain text."
    )
    return Message("user", tuple(parts))
