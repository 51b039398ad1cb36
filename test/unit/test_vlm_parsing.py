"""Reply parsing: the messy shapes models actually produce, and the format/parse round trip."""

from __future__ import annotations

import pytest

from maestro_agent.replies import (
    Decision,
    Judgement,
    PlanReply,
    ReplyFormatError,
    extract_code,
    format_judgement,
    format_plan,
    parse_judgement,
    parse_plan,
    to_decision,
)
from maestro_tools.vlm.markdown import loads_lenient

FENCE = "```"


def block(lang: str, body: str) -> str:
    return f"{FENCE}{lang}\n{body}\n{FENCE}"


def test_prose_around_code() -> None:
    text = f"First I open the gripper.\n\n{block('python', 'robot.open_gripper()')}\n\nThat should do it."
    assert extract_code(text) == "robot.open_gripper()"


def test_several_code_blocks_are_joined_in_order_and_json_is_skipped() -> None:
    text = "\n".join(
        [
            "Plan below.",
            block("json", '{"subtasks": ["open", "move"]}'),
            block("python", "robot.open_gripper()"),
            "then",
            block("py", "robot.move_gripper_to(position=[0.4, 0.0, 0.2])"),
            block("", "x = 1"),
            block("text", "not code, ignored"),
        ]
    )
    assert extract_code(text) == (
        "robot.open_gripper()\n\nrobot.move_gripper_to(position=[0.4, 0.0, 0.2])\n\nx = 1"
    )


def test_bare_fence_with_prose_or_data_is_not_code() -> None:
    text = block("", "Decision: continue") + "\n" + block("", '{"decision": "continue"}')
    with pytest.raises(ReplyFormatError, match="python"):
        extract_code(text)


def test_indented_and_unclosed_blocks() -> None:
    text = "Steps:\n  ```python\n  a = 1\n  if a:\n      b = 2\n  ```\n```python\nc = 3"
    assert extract_code(text) == "a = 1\nif a:\n    b = 2\n\nc = 3"


def test_no_code_raises_with_the_expected_format() -> None:
    with pytest.raises(ReplyFormatError, match="```python"):
        extract_code("I think we should open the gripper.")


def test_plan_with_messy_json() -> None:
    json_text = """{
      // the plan
      'subtasks': ['locate the ball', 'grasp the ball',],  # trailing comma
      "confident": True, "note": None, /* block comment */ "url": "http://x//y#z"
    }"""
    reply = parse_plan(f"Here is my plan.\n{block('json', json_text)}\n{block('python', 'find()')}\nDone.")
    assert reply == PlanReply(("locate the ball", "grasp the ball"), "find()", "Here is my plan.\n\nDone.")


def test_loads_lenient_keeps_strings_intact() -> None:
    value = loads_lenient("{'a': 'true', \"b\": \"// not a comment # either\", 'c': [true, false, null,],}")
    assert value == {"a": "true", "b": "// not a comment # either", "c": [True, False, None]}
    with pytest.raises(ValueError):
        loads_lenient("{not json at all")


def test_plan_with_inline_json_and_no_fence() -> None:
    text = 'My plan: {"subtasks": ["open", "close"]} and the code:\n' + block(
        "python", "robot.open_gripper()"
    )
    reply = parse_plan(text)
    assert reply.subtasks == ("open", "close")
    assert "subtasks" not in reply.reasoning


def test_plan_subtasks_as_numbered_prose() -> None:
    text = "Plan:\n1. **locate** the cup\n2) grasp the cup\n3. lift it\n\nNotes: 4. not part\n" + block(
        "py", "x = 1"
    )
    assert parse_plan(text).subtasks == ("locate the cup", "grasp the cup", "lift it")


def test_plan_subtask_objects_are_flattened() -> None:
    text = (
        block("json", '{"subtasks": [{"name": "a", "description": "open"}, "close"]}')
        + "\n"
        + block("py", "f()")
    )
    assert parse_plan(text).subtasks == ("open", "close")


def test_plan_without_subtasks_or_code_raises() -> None:
    with pytest.raises(ReplyFormatError, match="subtasks"):
        parse_plan(block("python", "f()"))
    with pytest.raises(ReplyFormatError, match="first subtask's code"):
        parse_plan(block("json", '{"subtasks": ["a"]}'))


def test_judgement_full_json() -> None:
    text = "\n".join(
        [
            "The gripper reads 0.95: it closed on nothing.",
            block(
                "json",
                '{"decision": "replan", "reason": "missed", "subtasks": ["re-locate", "grasp lower"], '
                '"current_subtask": "1", "progress": "40%"}',
            ),
            block("python", "robot.open_gripper()"),
        ]
    )
    assert parse_judgement(text) == Judgement(
        Decision.REPLAN,
        "missed",
        "robot.open_gripper()",
        ("re-locate", "grasp lower"),
        1,
        40.0,
        "The gripper reads 0.95: it closed on nothing.",
    )


def test_judgement_python_literals_and_one_line_block() -> None:
    text = "```json {'decision': 'Done', 'reason': 'in the bowl', 'progress': 100, 'ok': True}```"
    judgement = parse_judgement(text)
    assert (judgement.decision, judgement.reason, judgement.code, judgement.progress) == (
        Decision.COMPLETE,
        "in the bowl",
        "",
        100.0,
    )


def test_judgement_decision_in_prose_only() -> None:
    text = (
        "The ball slipped.\n**Decision:** replan\nReason: the grasp was too high\n"
        "1. locate the ball\n2. grasp 1 cm lower\n" + block("python", "robot.open_gripper()")
    )
    judgement = parse_judgement(text)
    assert judgement.decision is Decision.REPLAN
    assert judgement.reason == "the grasp was too high"
    assert judgement.subtasks == ("locate the ball", "grasp 1 cm lower")
    assert judgement.code == "robot.open_gripper()"


def test_judgement_prose_decision_phrasing_and_default_reason() -> None:
    judgement = parse_judgement("The cube is lifted.\nMy decision is to proceed.\n" + block("python", "f()"))
    assert (judgement.decision, judgement.reason) == (Decision.CONTINUE, "The cube is lifted.")


@pytest.mark.parametrize(
    ("word", "decision"),
    [
        ("done", Decision.COMPLETE),
        ("SUCCESS", Decision.COMPLETE),
        ("next", Decision.CONTINUE),
        ("move on", Decision.CONTINUE),
        ("abort", Decision.FAILED),
        ("try-again", Decision.RETRY),
        ("re-plan", Decision.REPLAN),
        ("retry with a lower grasp", Decision.RETRY),
        ("failed.", Decision.FAILED),
    ],
)
def test_decision_synonyms(word: str, decision: Decision) -> None:
    assert to_decision(word) is decision


@pytest.mark.parametrize("word", ["maybe", "", "retry or abort"])
def test_unknown_decision_raises(word: str) -> None:
    with pytest.raises(ReplyFormatError, match="continue\\|retry\\|replan\\|complete\\|failed"):
        to_decision(word)


def test_unknown_decision_in_reply_raises() -> None:
    with pytest.raises(ReplyFormatError, match="'perhaps'"):
        parse_judgement(block("json", '{"decision": "perhaps"}') + "\n" + block("python", "f()"))


@pytest.mark.parametrize("decision", ["continue", "retry", "replan"])
def test_code_required_for_decisions_that_run_code(decision: str) -> None:
    with pytest.raises(ReplyFormatError, match=f"decision is '{decision}'.*python"):
        parse_judgement(block("json", f'{{"decision": "{decision}", "reason": "r"}}'))


def test_no_decision_raises() -> None:
    with pytest.raises(ReplyFormatError, match="no decision"):
        parse_judgement("It looks fine.\n" + block("python", "f()"))


def test_bad_optional_fields_are_dropped() -> None:
    text = block("json", '{"decision": "failed", "current_subtask": -2, "progress": "lots"}')
    judgement = parse_judgement(text)
    assert (judgement.current_subtask, judgement.progress, judgement.subtasks) == (None, None, None)
    assert parse_judgement(block("json", '{"decision": "complete", "progress": 250}')).progress == 100.0


def test_python_block_holding_the_json() -> None:
    text = block("python", "{'decision': 'retry', 'reason': 'slipped'}") + "\n" + block("python", "f()")
    judgement = parse_judgement(text)
    assert (judgement.decision, judgement.code) == (Decision.RETRY, "f()")


def test_plan_round_trip() -> None:
    text = format_plan(["locate", "grasp"], "robot.open_gripper()\n", reasoning="Because.")
    assert parse_plan(text) == PlanReply(("locate", "grasp"), "robot.open_gripper()", "Because.")


def test_judgement_round_trip_with_backticks_in_code() -> None:
    code = 'print("```")\nrobot.close_gripper()'
    text = format_judgement(Decision.RETRY, "slipped", code, ["a", "b"], 1, 50, "Why.")
    assert parse_judgement(text) == Judgement(Decision.RETRY, "slipped", code, ("a", "b"), 1, 50.0, "Why.")
    done = format_judgement("complete", "all done")
    assert parse_judgement(done) == Judgement(Decision.COMPLETE, "all done", "", None, None, None, "")


def test_format_rejects_unknown_decisions() -> None:
    with pytest.raises(ValueError):
        format_judgement("finished", "x")
