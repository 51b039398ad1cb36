"""The sweep's settings and its Markdown summary (the trials themselves run in test/e2e)."""

from __future__ import annotations

import pytest

from maestro_agent.evaluation.sweep import Setting, TrialRecord, settings, table
from maestro_tools.common.errors import InvalidArgumentError


def record(task: str, axis: str, seed: int, progress: float) -> TrialRecord:
    return TrialRecord(task, seed, axis, "do it", progress >= 100, progress, 3, 0, 10.0, "", "t")


def test_settings_cover_every_task_axis_and_seed_and_refuse_unknown_axes() -> None:
    plan = settings(["a", "b"], [0, 1], ["none", "pose"])
    assert len(plan) == 8 and Setting("b", 1, "pose") in plan
    with pytest.raises(InvalidArgumentError, match="valid: none, visual, pose, new_object, language"):
        settings(["a"], [0], ["lighting"])


def test_the_table_has_the_mean_progress_per_task_and_axis() -> None:
    records = [
        record("hang_mug", "none", 0, 100),
        record("hang_mug", "none", 1, 70),
        record("hang_mug", "pose", 0, 50),
        record("fold_towel", "pose", 0, 100),
    ]
    lines = table(records).splitlines()
    assert lines[0] == "| task | none | pose | mean | success |"
    assert lines[2] == "| hang_mug | 85 | 50 | 73.3 | 1/3 |"
    assert lines[3] == "| fold_towel | - | 100 | 100.0 | 1/1 |"
