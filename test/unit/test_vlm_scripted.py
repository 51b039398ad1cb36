"""ScriptedVLM: the example program, rule matching, trial state, and program validation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from maestro_agent.replies import Decision, parse_judgement, parse_plan
from maestro_agent.scripted_programs import NoProgramError, load_program
from maestro_agent.scripted_vlm import ScriptedVLM, normalize_instruction
from maestro_agent.vlm_backends import create_vlm
from maestro_tools.vlm import Message, VLMConfigError, VLMRequest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "programs" / "example_wave.yaml"
INSTRUCTION = "Wave the gripper, please!"


@pytest.fixture
def vlm() -> ScriptedVLM:
    return ScriptedVLM(EXAMPLE)


def ask(vlm: ScriptedVLM, purpose: str, observation: str = "", instruction: str = INSTRUCTION):
    messages = (Message("user", ("Task: wave",)), Message("model", ("ok",)), Message("user", (observation,)))
    return vlm.generate(VLMRequest("system", messages, purpose, instruction))


def react(vlm: ScriptedVLM, observation: str, instruction: str = INSTRUCTION):
    return parse_judgement(ask(vlm, "react", observation, instruction).text)


def test_plan_from_the_example(vlm) -> None:
    reply = ask(vlm, "plan")
    plan = parse_plan(reply.text)
    program = load_program(EXAMPLE)
    assert plan.subtasks == ("lift the gripper 10 cm", "wave left and right", "return to the start")
    assert plan.code == program.steps[0].code.strip()
    assert "Scripted" in plan.reasoning
    assert (reply.model, reply.usage.input_tokens, reply.usage.output_tokens) == (
        "scripted:example_wave",
        0,
        0,
    )
    assert vlm.name == "scripted" and vlm.model == "scripted:example_wave"


def test_a_whole_trial_with_retry_and_replan(vlm) -> None:
    program = load_program(EXAMPLE)
    ask(vlm, "plan")
    retry = react(vlm, "ERROR: motion TIMEOUT after 5 s")  # contains is case-insensitive
    assert (retry.decision, retry.current_subtask) == (Decision.RETRY, 0)
    assert retry.code == program.steps[0].code.strip()  # a retry without code resends the step's code
    step2 = react(vlm, "lifted to [0.4, 0.0, 0.3]")
    assert (step2.decision, step2.reason, step2.current_subtask) == (
        Decision.CONTINUE,
        "the gripper is up",
        1,
    )
    assert step2.code == program.steps[1].code.strip()
    assert step2.progress == pytest.approx(33.3)
    replan = react(vlm, "waved\nerror: joint limit")  # `absent` vetoes the continue rule
    assert replan.decision is Decision.REPLAN
    assert "(0.02, -0.04, 0.02)" in replan.code and replan.current_subtask == 1
    step3 = react(vlm, "waved")
    assert (step3.decision, step3.current_subtask) == (Decision.CONTINUE, 2)
    done = react(vlm, "back at the start")
    assert (done.decision, done.code, done.progress) == (Decision.COMPLETE, "", 100.0)
    assert done.reason == "the wave is done and the gripper is back"
    assert react(vlm, "anything").decision is Decision.COMPLETE  # stays ended
    assert ask(vlm, "reflect").text.startswith("Waving needs no perception")


def test_failed_rule_and_unmatched_observation(vlm) -> None:
    ask(vlm, "plan")
    failed = react(vlm, "error: unreachable")
    assert (failed.decision, failed.reason) == (Decision.FAILED, "the lift failed with an error")
    ask(vlm, "plan")  # a new plan starts a new trial
    assert react(vlm, "lifted").decision is Decision.CONTINUE
    react(vlm, "waved")
    unmatched = react(vlm, "nothing happened")
    assert unmatched.decision is Decision.FAILED and "step 3" in unmatched.reason


def test_react_without_plan_starts_at_the_first_step(vlm) -> None:
    assert react(vlm, "lifted", instruction="wave hello").current_subtask == 1


def test_instruction_matching(vlm) -> None:
    assert normalize_instruction("  Wave   the-Gripper!! ") == "wave the gripper"
    assert vlm.find("wave hello to everyone")[0].name == "example_wave"  # prefix at a word boundary
    with pytest.raises(NoProgramError) as caught:
        vlm.find("wave hellooo")
    message = str(caught.value)
    assert "'wave hellooo'" in message and "'wave the gripper'" in message and "'wave hello'" in message
    with pytest.raises(NoProgramError):
        ask(vlm, "plan", instruction="put the tennis ball into the bowl")


def test_slots_bind_the_words_the_instruction_gives_them(tmp_path) -> None:
    text = EXAMPLE.read_text().replace(
        '["wave the gripper", "wave hello"]', '["Put the {item} into the {place}.", "Put the ball away"]'
    )
    (tmp_path / "p.yaml").write_text(text)
    vlm = create_vlm("scripted", programs=tmp_path)
    program, slots = vlm.find("Put the red plush bear into the garbage can!")
    assert slots == {"item": "red plush bear", "place": "garbage can"}
    assert vlm.find("put the ball away now") == (program, {})  # a prefix, no slots
    plan = ask(vlm, "plan", instruction="put the red plush bear into the garbage can")
    assert "item = 'red plush bear'\nplace = 'garbage can'\n" in plan.text  # before the program's code
    assert (
        "item = 'red plush bear'"
        in ask(vlm, "react", "lifted", instruction="put the red plush bear into the garbage can").text
    )
    with pytest.raises(NoProgramError):
        vlm.find("put the bear in the can")  # "into the" is not there


def test_reflect_without_a_trial(vlm) -> None:
    reply = ask(vlm, "reflect")
    assert reply.model == "scripted" and reply.text


def test_directory_loading_and_registry(tmp_path) -> None:
    (tmp_path / "a.yaml").write_text(EXAMPLE.read_text())
    second = EXAMPLE.read_text().replace("name: example_wave", "name: other")
    second = second.replace('["wave the gripper", "wave hello"]', '["Put the ball in the bowl."]')
    (tmp_path / "b.yaml").write_text(second)
    (tmp_path / "notes.txt").write_text("ignored")
    vlm = create_vlm("scripted", programs=tmp_path)
    assert [p.name for p in vlm.programs] == ["example_wave", "other"]
    assert ask(vlm, "plan", instruction="put the ball in the bowl").model == "scripted:other"
    assert create_vlm("scripted").find("wave hello")[0].name == "example_wave"  # default: config/programs


MINIMAL = """
version: 1
name: p
instructions: ["do it"]
subtasks: ["one"]
steps:
  - code: "x = 1"
    judge:
      - when: {contains: ["ok"]}
        decision: continue
"""


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("name: p", "name: p\ncolour: red", "colour"),
        ("decision: continue", "reason: no decision", "steps[0].judge[0].decision"),
        ("decision: continue", "decision: finish", "steps[0].judge[0].decision"),
        ('{contains: ["ok"]}', '{includes: ["ok"]}', "steps[0].judge[0].when.includes"),
        ('subtasks: ["one"]', 'subtasks: ["one", "two"]', "steps"),
        ('  - code: "x = 1"', '  - cod: "x = 1"', "steps[0].cod"),
        ("version: 1", "version: 2", "version"),
        ("decision: continue", 'decision: continue\n        code: "y = 2"', "steps[0].judge[0].code"),
        ('instructions: ["do it"]', "instructions: []", "instructions"),
    ],
)
def test_validation_errors_name_file_and_key(tmp_path, old: str, new: str, key: str) -> None:
    assert old in MINIMAL
    path = tmp_path / "bad.yaml"
    path.write_text(MINIMAL.replace(old, new))
    with pytest.raises(VLMConfigError) as caught:
        ScriptedVLM(path)
    assert str(path) in str(caught.value) and f": {key}:" in str(caught.value)


def test_minimal_program_loads(tmp_path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(MINIMAL)
    assert load_program(path).steps[0].judge[0].contains == ("ok",)


def test_missing_steps_bad_yaml_and_duplicates(tmp_path) -> None:
    (tmp_path / "nosteps.yaml").write_text(textwrap.dedent(MINIMAL).split("steps:")[0])
    with pytest.raises(VLMConfigError, match=r"nosteps\.yaml: steps: missing"):
        ScriptedVLM(tmp_path / "nosteps.yaml")
    (tmp_path / "broken.yaml").write_text("version: [1\n")
    with pytest.raises(VLMConfigError, match=r"broken\.yaml: not valid YAML"):
        ScriptedVLM(tmp_path / "broken.yaml")
    (tmp_path / "one.yaml").write_text(MINIMAL)
    (tmp_path / "two.yaml").write_text(MINIMAL.replace("name: p", "name: q").replace("do it", "Do it!"))
    with pytest.raises(VLMConfigError, match="also in"):
        ScriptedVLM([tmp_path / "one.yaml", tmp_path / "two.yaml"])
    with pytest.raises(VLMConfigError, match="neither a file nor a directory"):
        ScriptedVLM(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VLMConfigError, match=r"no \*\.yaml"):
        ScriptedVLM(tmp_path / "empty")


def test_the_program_needing_the_most_of_the_agents_tools_wins(tmp_path: Path) -> None:
    """A program needs the registered tools its code calls; per instruction, the richest usable one runs."""

    def program(name: str, code: str) -> None:
        body = textwrap.indent(textwrap.dedent(code).strip(), " " * 6)
        (tmp_path / f"{name}.yaml").write_text(
            f'version: 1\nname: {name}\ninstructions: ["Put the {{item}} into the bowl"]\n'
            f'subtasks: ["all"]\nsteps:\n  - code: |\n{body}\n'
        )

    program("full", "item = perception.locate(item)\ngrasping.pick(item.label)")
    program("base", "view = robot.get_observation()\nbase = view\nprint(base.rgb.shape)")  # base: a local
    registered = ["robot", "perception", "grasping", "base", "geometry"]
    every = ScriptedVLM(
        tmp_path, tools=["robot", "perception", "grasping", "geometry"], registered=registered
    )
    assert [p.name for p in every.programs] == ["full"]
    only_robot = ScriptedVLM(tmp_path, tools=["robot"], registered=registered)
    assert only_robot.find("Put the orange into the bowl")[0].name == "base"
    with pytest.raises(
        VLMConfigError, match=r"needs tools the agent lacks: \['grasping', 'perception', 'robot'\]"
    ):
        ScriptedVLM(tmp_path, tools=[], registered=registered)
    assert [p.name for p in ScriptedVLM(tmp_path).programs] == ["full"]  # tools unknown: the richest


def test_rules_judge_the_output_not_the_code_that_ran(vlm) -> None:
    ask(vlm, "plan")
    assert react(vlm, "lifted to [0.4, 0.0, 0.3]").current_subtask == 1
    # Step 2 continues on "waved" in the output; its code prints "waved", but this run stopped before.
    code = "Substep 2 ran this code:\n```python\nrobot.move_gripper_to([x, y, z])\nprint('waved')\n```\n"
    assert react(vlm, code + "Printed output:\n(nothing)\nStatus: interrupted").decision is Decision.REPLAN
    assert react(vlm, code + "Printed output:\nwaved").decision is Decision.CONTINUE
