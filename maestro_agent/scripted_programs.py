"""The scripted backend's programs: their file format, loading, validation and selection.

Program files (YAML, format version 1; a directory means every ``*.yaml`` in it)::

    version: 1
    name: ball_in_bowl
    description: "..."                 # optional, for people
    instructions: ["put the tennis ball into the bowl"]
    subtasks: ["locate the ball", "grasp the ball", "drop it into the bowl"]
    steps:                             # exactly one per subtask, in order
      - code: |
          ...python for this subtask...
        judge:                         # optional (default: always continue); the first matching rule wins
          - when: {contains: ["closed on nothing"], absent: ["error"]}
            decision: retry            # continue | retry | replan | complete | failed
            reason: "the gripper closed on nothing; grasp 1 cm lower"
            code: |                    # retry/replan only; default: this step's code again
              ...
          - decision: continue         # no `when`: always matches
            reason: "holding the ball"
    reflection: "text returned for purpose=reflect"   # optional
    requires: [vla]                    # optional: tools needed beyond those the code names

Instructions match after lower-casing, replacing punctuation by spaces and collapsing whitespace;
a trial instruction that starts with a listed one (at a word boundary) also matches, longest first.
A listed instruction may hold slots (``"Put the {item} into the bowl"``): the words the trial's
instruction gives them are bound in every code the program sends (``item = 'red apple'`` first), as a
model writes the names it read into its code (scripted_instructions.py).
Rules read the observation: the text parts of the last user message. ``contains`` needs every
substring, ``absent`` none of them (both case-insensitive). If no rule matches, the reply is
``failed`` naming the step. ``continue`` moves to the next step and sends its code (after the last
step it replies ``complete``); ``retry``/``replan`` send the rule's code and stay on the step;
``complete``/``failed`` end the trial. A ``plan`` request starts a new trial.

The tools a program needs are those it ``requires`` plus every registered tool its code calls
(``perception.`` ...). A program is loaded only when the agent has them all (``tools``: the agent's tool
group and opt-in tools), and of the programs sharing an instruction the one needing the most tools wins:
ball_in_bowl_vla.yaml replaces ball_in_bowl.yaml when a vla_bridge runs, and ball_in_bowl_s0.yaml (the
robot's own interfaces only) replaces it when the agent's tool group is S0.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from maestro_agent.replies import Decision
from maestro_agent.scripted_instructions import InstructionPattern
from maestro_tools.common.errors import ErrorCode, NotFoundError
from maestro_tools.vlm.base import VLMConfigError, VLMError

_TOP_KEYS = {"version", "name", "description", "instructions", "subtasks", "steps", "reflection", "requires"}
_STEP_KEYS = {"code", "judge"}
_RULE_KEYS = {"when", "decision", "reason", "code"}
_WHEN_KEYS = {"contains", "absent"}


class NoProgramError(VLMError, NotFoundError):
    """The scripted backend has no program for the trial's instruction."""

    code = ErrorCode.NOT_FOUND


@dataclass(frozen=True)
class Rule:
    decision: Decision
    reason: str
    code: str | None
    contains: tuple[str, ...]
    absent: tuple[str, ...]

    def matches(self, observation: str) -> bool:
        text = observation.lower()
        return all(s in text for s in self.contains) and not any(s in text for s in self.absent)


@dataclass(frozen=True)
class Step:
    code: str
    judge: tuple[Rule, ...]


@dataclass(frozen=True)
class Program:
    name: str
    path: Path
    instructions: tuple[str, ...]  # as written
    subtasks: tuple[str, ...]
    steps: tuple[Step, ...]
    reflection: str
    requires: tuple[str, ...] = ()  # tools beyond the default set, e.g. ("vla",)


class _Checker:
    """Validation helpers whose errors name the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> VLMConfigError:
        return VLMConfigError(f"{self.path}: {key}: {problem}")

    def keys(self, value: Any, allowed: set[str], key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(
                key, f"expected a mapping with keys {sorted(allowed)}, got {type(value).__name__}"
            )
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise self.fail(
                f"{key}.{unknown[0]}" if key else unknown[0], f"unknown key (valid: {sorted(allowed)})"
            )
        return value

    def text(self, value: Any, key: str, required: bool = True) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "expected a non-empty string")
        return value

    def texts(self, value: Any, key: str) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise self.fail(key, "expected a non-empty list of strings")
        return tuple(self.text(item, f"{key}[{i}]") for i, item in enumerate(items))


def _load_rule(check: _Checker, raw: Any, key: str, step_code: str) -> Rule:
    raw = check.keys(raw, _RULE_KEYS, key)
    word = raw.get("decision")
    valid = [d.value for d in Decision]
    if word not in valid:
        raise check.fail(f"{key}.decision", f"{word!r} is not one of {', '.join(valid)}")
    decision = Decision(word)
    code = check.text(raw.get("code"), f"{key}.code", required=False) or None
    if code and decision not in (Decision.RETRY, Decision.REPLAN):
        raise check.fail(
            f"{key}.code", "only retry and replan rules carry code (continue sends the next step's)"
        )
    when = check.keys(raw.get("when") or {}, _WHEN_KEYS, f"{key}.when")
    contains = check.texts(when["contains"], f"{key}.when.contains") if "contains" in when else ()
    absent = check.texts(when["absent"], f"{key}.when.absent") if "absent" in when else ()
    reason = check.text(raw.get("reason"), f"{key}.reason", required=False)
    return Rule(
        decision=decision,
        reason=reason.strip(),
        code=code if code or decision not in (Decision.RETRY, Decision.REPLAN) else step_code,
        contains=tuple(s.lower() for s in contains),
        absent=tuple(s.lower() for s in absent),
    )


def load_program(path: Path | str) -> Program:
    """Read and validate one program file; VLMConfigError names the file and the offending key."""
    path = Path(path)
    check = _Checker(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise VLMConfigError(f"{path}: cannot read the program file: {exc}") from None
    except yaml.YAMLError as exc:
        raise VLMConfigError(f"{path}: not valid YAML: {exc}") from None
    raw = check.keys(raw, _TOP_KEYS, "")
    for key in ("version", "name", "instructions", "subtasks", "steps"):
        if key not in raw:
            raise check.fail(key, "missing")
    if raw["version"] != 1:
        raise check.fail("version", f"unsupported version {raw['version']!r} (this reader knows 1)")
    subtasks = check.texts(raw["subtasks"], "subtasks")
    if not isinstance(raw["steps"], list) or len(raw["steps"]) != len(subtasks):
        count = len(raw["steps"]) if isinstance(raw["steps"], list) else "no"
        raise check.fail("steps", f"expected a list of {len(subtasks)} steps (one per subtask), got {count}")
    steps = []
    for i, raw_step in enumerate(raw["steps"]):
        key = f"steps[{i}]"
        raw_step = check.keys(raw_step, _STEP_KEYS, key)
        code = check.text(raw_step.get("code"), f"{key}.code")
        rules = raw_step.get("judge") or [{"decision": "continue"}]
        if not isinstance(rules, list):
            raise check.fail(f"{key}.judge", "expected a list of rules")
        judge = tuple(_load_rule(check, rule, f"{key}.judge[{j}]", code) for j, rule in enumerate(rules))
        steps.append(Step(code=code, judge=judge))
    return Program(
        name=check.text(raw["name"], "name").strip(),
        path=path,
        instructions=check.texts(raw["instructions"], "instructions"),
        subtasks=subtasks,
        steps=tuple(steps),
        reflection=check.text(raw.get("reflection"), "reflection", required=False).strip(),
        requires=check.texts(raw["requires"], "requires") if "requires" in raw else (),
    )


def default_programs_dir() -> Path:
    """config/programs of the source tree, else share/maestro/config/programs of an installed prefix."""
    candidates = [Path(__file__).resolve().parents[1] / "config" / "programs"]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / "share" / "maestro" / "config" / "programs")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise VLMConfigError(
        f"no scripted programs directory found (looked in {[str(c) for c in candidates]}); "
        "pass programs:=<dir or file>"
    )


def _keys(program: Program) -> set[str]:
    return {InstructionPattern.parse(i).key for i in program.instructions}


def _needs(program: Program, registered: Iterable[str]) -> set[str]:
    """The tools ``program`` needs: its ``requires`` and each registered tool its code calls (a name used
    as ``name.attribute`` that the program's code never binds itself; with no ``registered`` names, every
    such name, numpy's included, so the ranking below still prefers the program using the most)."""
    codes = [step.code for step in program.steps]
    codes += [rule.code for step in program.steps for rule in step.judge if rule.code]
    used: set[str] = set()
    bound: set[str] = set()
    for code in codes:
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            raise VLMConfigError(f"{program.path}: code does not parse: {exc}") from None
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                used.add(node.value.id)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bound.add(node.id)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
    free = used - bound  # without the registered names (no agent): every module the code reaches into
    return set(program.requires) | (free & set(registered) if registered else free)


def _select(
    loaded: Sequence[Program], tools: Iterable[str] | None, registered: Iterable[str]
) -> list[Program]:
    """The programs whose needed tools are there (``tools`` None: every tool but the required ones); of
    those sharing an instruction, the one needing the most tools (a variant, or the plain program over a
    base-tools one)."""
    registered = tuple(registered)
    needs = {id(p): _needs(p, registered) for p in loaded}
    if tools is None:
        usable = [p for p in loaded if not p.requires]
    else:
        have = set(tools)
        usable = [p for p in loaded if needs[id(p)] <= have]
    if loaded and not usable:
        wanted = [set(p.requires) for p in loaded] if tools is None else list(needs.values())
        missing = sorted(set().union(*wanted) - set(tools or ()))
        raise VLMConfigError(f"scripted programs: every program needs tools the agent lacks: {missing}")
    kept: list[Program] = []
    taken: dict[str, int] = {}  # instruction key -> how many tools its kept program needs
    for program in sorted(usable, key=lambda p: -len(needs[id(p)])):
        keys, rank = _keys(program), len(needs[id(program)])
        if all(taken.get(k, rank) <= rank for k in keys):  # equal ranks clash below, naming both files
            kept.append(program)
            taken.update(dict.fromkeys(keys, rank))
    return [p for p in usable if p in kept]


def load_programs(
    programs: Path | str | Sequence[Path | str],
    tools: Iterable[str] | None = None,
    registered: Iterable[str] = (),
) -> tuple[Program, ...]:
    """Programs from files and directories (every *.yaml) for an agent with ``tools`` (None: the default
    tools) out of the ``registered`` ones (the proxy's names, to find what each program's code calls);
    instructions must not repeat across them."""
    paths = [programs] if isinstance(programs, str | os.PathLike) else list(programs)
    files: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            files += sorted(entry.glob("*.yaml"))
        elif entry.is_file():
            files.append(entry)
        else:
            raise VLMConfigError(f"scripted programs: {entry} is neither a file nor a directory")
    if not files:
        raise VLMConfigError(f"scripted programs: no *.yaml program files in {[str(p) for p in paths]}")
    loaded = tuple(_select([load_program(f) for f in files], tools, registered))
    owner: dict[str, Program] = {}
    for program in loaded:
        for instruction in program.instructions:
            key = InstructionPattern.parse(instruction).key
            if key in owner and owner[key] is not program:
                raise VLMConfigError(
                    f"{program.path}: instructions: {instruction!r} is also in {owner[key].path}"
                )
            owner[key] = program
    return loaded
