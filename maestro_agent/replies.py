"""The agent's reply format: tolerant parsing of model replies into plans and judgements, and the
inverse formatting (used by the scripted fake). Generic markdown/JSON reading is maestro_tools.vlm.markdown.

Models are asked for prose, a ```json block and a ```python block. They often drift: trailing
commas, single quotes, comments or Python literals in the JSON, JSON inline without a fence, the
decision only in prose, numbered lists instead of JSON, several code blocks. This module accepts
all of that and raises ReplyFormatError (with the expected format) only when a needed part is missing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from maestro_tools.vlm.base import VLMError
from maestro_tools.vlm.markdown import classify, inline_objects, loads_lenient, looks_like_code, split_blocks

PLAN_FORMAT = (
    'optional prose, then a ```json block {"subtasks": ["...", "..."]}, then a ```python block '
    "with the code of the first subtask"
)
REACT_FORMAT = (
    'optional prose, then a ```json block {"decision": "continue|retry|replan|complete|failed", '
    '"reason": "...", "subtasks": [...] (only on replan), "current_subtask": <0-based int>, '
    '"progress": <0-100>}, then a ```python block (required for continue, retry and replan)'
)


class Decision(str, Enum):
    CONTINUE = "continue"
    RETRY = "retry"
    REPLAN = "replan"
    COMPLETE = "complete"
    FAILED = "failed"


_SYNONYMS: dict[str, Decision] = {
    word: decision
    for decision, words in {
        Decision.CONTINUE: "continue continuing proceed next next_step next_subtask advance go_on move_on ok",
        Decision.RETRY: "retry retrying again try_again redo repeat",
        Decision.REPLAN: "replan re_plan replanning new_plan revise revise_plan",
        Decision.COMPLETE: "complete completed done success succeeded successful finished finish "
        "task_complete accomplished achieved",
        Decision.FAILED: "failed fail failure abort aborted give_up stop impossible infeasible",
    }.items()
    for word in words.split()
}


@dataclass(frozen=True)
class PlanReply:
    subtasks: tuple[str, ...]
    code: str
    reasoning: str  # the prose outside the blocks


@dataclass(frozen=True)
class Judgement:
    decision: Decision
    reason: str
    code: str
    subtasks: tuple[str, ...] | None
    current_subtask: int | None
    progress: float | None
    reasoning: str


class ReplyFormatError(VLMError):
    """A reply lacks a required part; the message says what, and what format is expected."""


def extract_code(text: str) -> str:
    """All python/py (or bare, code-like) blocks in order, joined with a blank line."""
    blocks, _ = split_blocks(text)
    code = [block.body for block in blocks if classify(block) == "code"]
    if not code and not blocks and looks_like_code(text.strip()):
        return text.strip()  # the whole reply is bare code
    if not code:
        raise ReplyFormatError(
            "The reply contains no ```python code block. Put the code to run in a ```python ... ``` block."
        )
    return "\n\n".join(code)


def _find_object(text: str, key: str) -> tuple[dict[str, Any] | None, str]:
    """The first JSON object holding ``key`` (fenced, else inline in prose), and the remaining prose."""
    blocks, prose = split_blocks(text)
    candidates: list[dict[str, Any]] = []
    for block in blocks:
        if classify(block) == "data":
            try:
                value = loads_lenient(block.body)
            except ValueError:
                continue
            if key == "subtasks" and isinstance(value, list):
                value = {"subtasks": value}
            if isinstance(value, dict):
                candidates.append(value)
    for value in candidates:
        if key in {k.lower() for k in value}:
            return {k.lower(): v for k, v in value.items()}, prose
    for value, span in inline_objects(prose):
        if key in {k.lower() for k in value}:
            return {k.lower(): v for k, v in value.items()}, prose.replace(span, "").strip()
    return None, prose


# --- plans and judgements ----------------------------------------------------------------------------

_NUMBERED = re.compile(r"^\s*(?:step\s+|subtask\s+)?(\d{1,2})\s*[.):-]\s+(.+?)\s*$", re.IGNORECASE)


def _numbered_list(prose: str) -> tuple[str, ...]:
    """The first run of numbered lines ("1. ...", "2) ...", "Step 3: ...") in prose."""
    items: list[str] = []
    for line in prose.splitlines():
        match = _NUMBERED.match(line.replace("**", ""))
        if match and int(match.group(1)) == len(items) + 1:
            items.append(match.group(2).strip())
        elif items and line.strip():
            break
    return tuple(items)


def _subtask_list(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list | tuple):
        return None
    items: list[str] = []
    for item in value:
        if isinstance(item, dict):
            texts = [item[k] for k in ("description", "subtask", "name", "task", "step") if k in item]
            texts = texts or [v for v in item.values() if isinstance(v, str)]
            item = texts[0] if texts else ""
        if str(item).strip():
            items.append(str(item).strip())
    return tuple(items)


def parse_plan(text: str) -> PlanReply:
    """A plan reply: subtasks (JSON, else a numbered list) and the first subtask's code."""
    data, prose = _find_object(text, "subtasks")
    subtasks = _subtask_list(data.get("subtasks")) if data else None
    if subtasks is None:
        subtasks = _numbered_list(prose)
    if not subtasks:
        raise ReplyFormatError(f"The reply has no list of subtasks. Expected: {PLAN_FORMAT}.")
    try:
        code = extract_code(text)
    except ReplyFormatError:
        raise ReplyFormatError(
            f"The reply has no ```python block with the first subtask's code. Expected: {PLAN_FORMAT}."
        ) from None
    return PlanReply(subtasks=subtasks, code=code, reasoning=prose)


def to_decision(word: str) -> Decision:
    """A decision word (or a synonym: done -> complete, next -> continue, abort -> failed...)."""
    key = re.sub(r"[\s-]+", "_", str(word).strip().strip(".!\"'`*").lower())
    if key in _SYNONYMS:
        return _SYNONYMS[key]
    found = {_SYNONYMS[w] for w in re.findall(r"[a-z]+", key.replace("_", " ")) if w in _SYNONYMS}
    if len(found) == 1:  # "retry with a lower grasp", "task done"
        return found.pop()
    valid = "|".join(d.value for d in Decision)
    raise ReplyFormatError(f"Unknown decision {word!r}: use one of {valid}. Expected: {REACT_FORMAT}.")


_PROSE_DECISION = re.compile(
    r"\bdecision\b[*_`\s]*(?::|=|\bis\b(?:\s+to\b)?)[*_`'\"\s]*([a-z][\w-]*)", re.IGNORECASE
)
_PROSE_REASON = re.compile(r"^[*_\s]*reason[*_\s]*:[*_\s]*(.+)$", re.IGNORECASE | re.MULTILINE)


def _optional_int(value: Any) -> int | None:
    try:
        number = float(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        return None
    return int(number) if number is not None and number >= 0 and number == int(number) else None


def _optional_progress(value: Any) -> float | None:
    try:
        number = float(str(value).strip().rstrip("%")) if not isinstance(value, bool) else None
    except ValueError:
        return None
    return None if number is None or number != number else min(100.0, max(0.0, number))


def _first_sentence(prose: str) -> str:
    """The first prose line that is not the decision line (a reason when none was given)."""
    for line in prose.splitlines():
        line = line.strip().strip("*_#> ").strip()
        if line and not _PROSE_DECISION.search(line):
            return line[:300]
    return ""


def _prose_decision(prose: str) -> Decision:
    """The first "Decision: <word>" in prose whose word is known (else the error for the first one)."""
    words = [match.group(1) for match in _PROSE_DECISION.finditer(prose)]
    if not words:
        raise ReplyFormatError(f"The reply has no decision. Expected: {REACT_FORMAT}.")
    for word in words:
        try:
            return to_decision(word)
        except ReplyFormatError:
            continue
    return to_decision(words[0])


def parse_judgement(text: str) -> Judgement:
    """A react reply: decision, reason, code (required for continue/retry/replan) and optional fields."""
    data, prose = _find_object(text, "decision")
    if data is not None and data.get("decision") is not None:
        decision = to_decision(data["decision"])
        reason = str(data.get("reason") or "").strip()
    else:
        decision, data = _prose_decision(prose), {}
        reason_match = _PROSE_REASON.search(prose)
        reason = reason_match.group(1).strip() if reason_match else ""
    subtasks = _subtask_list(data.get("subtasks"))
    if subtasks is None and not data and decision is Decision.REPLAN:
        subtasks = _numbered_list(prose) or None
    try:
        code = extract_code(text)
    except ReplyFormatError:
        if decision in (Decision.CONTINUE, Decision.RETRY, Decision.REPLAN):
            raise ReplyFormatError(
                f"The decision is {decision.value!r} but the reply has no ```python block with the code "
                f"to run next. Expected: {REACT_FORMAT}."
            ) from None
        code = ""
    return Judgement(
        decision=decision,
        reason=reason or _first_sentence(prose),
        code=code,
        subtasks=subtasks or None,
        current_subtask=_optional_int(data.get("current_subtask")),
        progress=_optional_progress(data.get("progress")),
        reasoning=prose,
    )


# --- formatting (the inverse) ------------------------------------------------------------------------


def _fenced(lang: str, body: str) -> str:
    runs = [len(run) for run in re.findall(r"`{3,}", body)]
    fence = "`" * max([3, *(n + 1 for n in runs)])
    return f"{fence}{lang}\n{body.strip(chr(10))}\n{fence}"


def _join(reasoning: str, *blocks: str) -> str:
    return "\n\n".join(part for part in (reasoning.strip(), *blocks) if part) + "\n"


def format_plan(subtasks: Sequence[str], code: str, reasoning: str = "") -> str:
    """Reply text in the plan format that parse_plan reads back."""
    data = json.dumps({"subtasks": [str(s) for s in subtasks]}, indent=2, ensure_ascii=False)
    return _join(reasoning, _fenced("json", data), _fenced("python", code))


def format_judgement(
    decision: Decision | str,
    reason: str,
    code: str = "",
    subtasks: Sequence[str] | None = None,
    current_subtask: int | None = None,
    progress: float | None = None,
    reasoning: str = "",
) -> str:
    """Reply text in the react format that parse_judgement reads back."""
    data: dict[str, Any] = {"decision": Decision(decision).value, "reason": reason}
    if subtasks is not None:
        data["subtasks"] = [str(s) for s in subtasks]
    if current_subtask is not None:
        data["current_subtask"] = int(current_subtask)
    if progress is not None:
        data["progress"] = float(progress)
    blocks = [_fenced("json", json.dumps(data, indent=2, ensure_ascii=False))]
    if code.strip():
        blocks.append(_fenced("python", code))
    return _join(reasoning, *blocks)
