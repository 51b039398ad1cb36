"""`maestro eval --seeds`: a long sweep run a part (a set of seeds, LIBERO's initial states) at a time into
one OUT, over a recording executor (a test fake: no graph is started)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from maestro_agent.evaluation.results import completed_keys
from maestro_agent.evaluation.run import run_sweep
from maestro_agent.evaluation.spec import Batch
from maestro_tools.common.errors import InvalidArgumentError

SPEC = """version: 1
name: seeds_test
robot: franka
tasks: [ball_in_bowl, rotate_cube]
axes: [none, pose]
seeds: [0, 1, 2]
matrix:
  vlm: [scripted]
"""


class RecordingExecutor:
    """Answers every trial it is given with a row of progress 100, and remembers which it ran."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def run(self, batches: Sequence[Batch], job: dict[str, Any], on_row: Any) -> None:
        for batch in batches:
            for trial in batch.trials:
                self.ran.append(trial.key)
                on_row({"key": trial.key, "progress": 100.0, "seconds": 1.0, "success": True})


def test_seeds_runs_a_part_of_the_sweep_and_the_rest_resumes_into_the_same_out(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    first, text = RecordingExecutor(), io.StringIO()
    assert run_sweep(spec, out, 1, executor=first, stream=text, seeds=[1]) == 0
    assert len(first.ran) == 4 and {k.split("/")[2] for k in first.ran} == {"1"}  # 2 tasks x 2 axes
    assert "12 trials, 0 already recorded, 4 to run (seeds [1])" in text.getvalue()
    rest = RecordingExecutor()
    assert run_sweep(spec, out, 1, resume=True, executor=rest, stream=io.StringIO()) == 0
    assert len(rest.ran) == 8 and not set(rest.ran) & set(first.ran)
    assert len(completed_keys(out / "results.jsonl")) == 12
    with pytest.raises(
        InvalidArgumentError, match=r"--seeds \[7\] not among the spec's seeds; valid: 0, 1, 2"
    ):
        run_sweep(spec, tmp_path / "other", 1, executor=RecordingExecutor(), seeds=[1, 7])
