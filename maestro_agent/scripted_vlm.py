"""ScriptedVLM: a named fake VLM that replays YAML programs, for offline demos and tests.

It is not a model and is never chosen silently: only ``vlm:=scripted``
(``maestro_agent.vlm_backends.create_vlm("scripted")``) makes one, and it logs a warning saying so.
Replies are produced with ``format_plan`` and ``format_judgement`` (``maestro_agent.replies``) so the
agent parses them with the same code as real model replies.

The programs' file format, loading and selection: ``maestro_agent.scripted_programs``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from maestro_agent.replies import Decision, format_judgement, format_plan
from maestro_agent.scripted_instructions import InstructionPattern, bind, normalize_instruction
from maestro_agent.scripted_programs import NoProgramError, Program, default_programs_dir, load_programs
from maestro_tools.vlm.base import Usage, VLMConfigError, VLMReply, VLMRequest

log = logging.getLogger(__name__)


_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)


def observed(message: str) -> str:
    """The react message without the code the substep ran: the rules judge what came back (output,
    errors, state), never the program's own text (a print of "placed: hidden inside" in the code is not
    a sign that it printed that)."""
    return _CODE_BLOCK.sub("", message)


@dataclass
class _Trial:
    program: Program
    instruction: str  # normalised
    slots: dict[str, str]  # the words the instruction gave the program's slots
    step: int = 0
    ended: tuple[Decision, str] | None = None


class ScriptedVLM:
    """A fake VLM replaying scripted programs (see the module docstring). Not a model."""

    name = "scripted"

    def __init__(
        self,
        programs: Path | str | Sequence[Path | str] | None = None,
        tools: Sequence[str] | None = None,
        registered: Sequence[str] = (),
    ) -> None:
        """``tools``: the tools the agent's code gets (None: the default ones); ``registered``: every tool's
        name (see load_programs)."""
        directory = default_programs_dir() if programs is None else programs
        self.programs = load_programs(directory, tools, registered)
        self._trial: _Trial | None = None
        self._lock = threading.Lock()
        log.warning(
            "VLM backend 'scripted': replies come from %d scripted program(s) (%s), not from a model",
            len(self.programs),
            ", ".join(p.name for p in self.programs),
        )

    @property
    def model(self) -> str:
        trial = self._trial
        return f"scripted:{trial.program.name}" if trial else "scripted"

    def instructions(self) -> list[str]:
        return [i for program in self.programs for i in program.instructions]

    def find(self, instruction: str) -> tuple[Program, dict[str, str]]:
        """The program for ``instruction`` and its slots' words: an exact match of a listed instruction
        without slots first, then one with slots, then the most specific listed prefix."""
        wanted = normalize_instruction(instruction)
        best: tuple[tuple[bool, bool, int], Program, dict[str, str]] | None = None
        for program in self.programs:
            for pattern in map(InstructionPattern.parse, program.instructions):
                found = pattern.match(wanted)
                if found is None:
                    continue
                whole, slots = found
                rank = (whole and not slots, whole, pattern.literal)
                if best is None or rank > best[0]:
                    best = (rank, program, slots)
        if best is None:
            known = "; ".join(repr(i) for i in self.instructions())
            raise NoProgramError(
                f"no scripted program for the instruction {instruction!r}; programs exist for: {known}"
            )
        return best[1], best[2]

    def generate(self, request: VLMRequest) -> VLMReply:
        if request.purpose == "perceive":
            raise VLMConfigError(
                "the scripted backend answers no perception requests; use backend sim or geometric"
            )
        start = time.perf_counter()
        with self._lock:
            wanted = normalize_instruction(request.instruction)
            trial = self._trial
            if request.purpose == "plan" or trial is None or trial.instruction != wanted:
                if request.purpose == "reflect":
                    text = "Scripted backend: no scripted trial of this instruction to reflect on."
                    return VLMReply(text, Usage(), "scripted", time.perf_counter() - start)
                program, slots = self.find(request.instruction)
                trial = self._trial = _Trial(program, wanted, slots)
            if request.purpose == "plan":
                code = bind(trial.slots, trial.program.steps[0].code)
                text = format_plan(trial.program.subtasks, code, self._note(trial))
            elif request.purpose == "react":
                text = self._react(trial, observed(request.last_user_text()))
            else:
                text = (
                    trial.program.reflection
                    or f"Scripted program {trial.program.name}: no reflection written."
                )
            return VLMReply(text, Usage(), f"scripted:{trial.program.name}", time.perf_counter() - start)

    @staticmethod
    def _note(trial: _Trial) -> str:
        program = trial.program
        return f"(Scripted reply: program {program.name}, step {trial.step + 1} of {len(program.steps)}.)"

    def _react(self, trial: _Trial, observation: str) -> str:
        steps, note = trial.program.steps, self._note(trial)
        if trial.ended is None:
            rule = next((r for r in steps[trial.step].judge if r.matches(observation)), None)
            if rule is None:
                trial.ended = (
                    Decision.FAILED,
                    f"no rule of scripted step {trial.step + 1} matches the observation",
                )
            elif rule.decision is Decision.CONTINUE and trial.step + 1 < len(steps):
                trial.step += 1
                return self._judgement(trial, rule.decision, rule.reason, steps[trial.step].code, note)
            elif rule.decision is Decision.CONTINUE:  # past the last step
                trial.ended = (Decision.COMPLETE, rule.reason or "all subtasks are done")
            elif rule.decision in (Decision.RETRY, Decision.REPLAN):
                return self._judgement(trial, rule.decision, rule.reason, rule.code or "", note)
            else:
                trial.ended = (rule.decision, rule.reason)
        return self._judgement(trial, trial.ended[0], trial.ended[1], "", note)

    @staticmethod
    def _judgement(trial: _Trial, decision: Decision, reason: str, code: str, note: str) -> str:
        steps = len(trial.program.steps)
        progress = 100.0 if decision is Decision.COMPLETE else round(100.0 * trial.step / steps, 1)
        return format_judgement(decision, reason, bind(trial.slots, code), None, trial.step, progress, note)
