"""A task goal's limits (RunTask) and how a trial can end; the node refuses goals beyond the limits, the
loop and ``maestro run`` check them again."""

from __future__ import annotations

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.common.validate import quote

MAX_SUBSTEPS = 200
MAX_TRIALS = 20
MAX_INSTRUCTION_CHARS = 4000
# How a trial ended ("interrupted": its agent died without ending it; set by the trace store).
OUTCOMES = ("success", "failed", "budget_exhausted", "cancelled")
OUTCOMES += ("vlm_error", "unusable_reply", "error", "interrupted")


def check_task(instruction: str, max_substeps: int = 0, trials: int = 1) -> None:
    """Raise InvalidArgumentError naming every value of a task beyond the limits (quoting a prefix)."""
    problems = []
    if not instruction.strip():
        problems.append("the instruction is empty; say what the robot should do")
    elif len(instruction) > MAX_INSTRUCTION_CHARS:
        problems.append(
            f"the instruction has {len(instruction)} characters, more than {MAX_INSTRUCTION_CHARS}: "
            f"{quote(instruction)}"
        )
    if not 0 <= max_substeps <= MAX_SUBSTEPS:
        problems.append(f"max_substeps must be 0 (the default) to {MAX_SUBSTEPS}, not {max_substeps}")
    if not 0 <= trials <= MAX_TRIALS:
        problems.append(f"trials must be 0 or 1 (one trial) to {MAX_TRIALS}, not {trials}")
    if problems:
        raise InvalidArgumentError("; ".join(problems))
