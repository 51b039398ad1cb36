"""`maestro eval` end to end: the CI-size sweep (config/eval/ci.yaml: ball_in_bowl, nominal and pose, one
seed) on one worker's graph with the scripted backend at 3x real time, then `--resume` and `maestro report`.
About 2 minutes on 2 cores: the graph's start (~20 s) and two trials (~35-60 s each)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = ["ball_in_bowl/none/0/scripted+harness/0", "ball_in_bowl/pose/0/scripted+harness/0"]


def maestro(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "maestro_agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


@pytest.mark.timeout(330)
def test_the_ci_sweep_runs_records_resumes_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "ci"
    domain = os.environ["ROS_DOMAIN_ID"]
    sweep = maestro(
        "eval",
        "config/eval/ci.yaml",
        "--out",
        str(out),
        "--workers",
        "1",
        "--domain-base",
        domain,
        timeout=280,
    )
    logs = "\n".join(p.read_text()[-3000:] for p in sorted((out / "logs").glob("*.log")))
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr + logs
    print(sweep.stdout)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["key"] for r in rows] == KEYS
    for row in rows:
        assert row["error"] == "" and row["attempts"] == 1 and row["domain_id"] == int(domain), row
        assert row["progress"] >= 80, row["summary"]  # the reference program solves both scenes
        assert row["trial_id"] and row["substeps"] >= 1 and row["graph_start_s"] > 0
        assert "real_time_factor:=3.0" in row["launch"] and "vlm:=scripted" in row["launch"]
    assert (out / "traces" / "traces.db").is_file()  # the graph recorded into the sweep's store

    again = maestro("eval", "config/eval/ci.yaml", "--out", str(out), "--resume", timeout=60)
    assert again.returncode == 0 and "2 already recorded, 0 to run" in again.stdout, (
        again.stdout + again.stderr
    )
    refused = maestro("eval", "config/eval/ci.yaml", "--out", str(out), timeout=60)
    assert refused.returncode == 2 and "--resume" in refused.stderr

    report = maestro("report", str(out), timeout=60)
    assert report.returncode == 0, report.stderr
    with (out / "report" / "summary.csv").open() as file:
        summary = list(csv.DictReader(file))
    assert [(s["axis"], s["trials"]) for s in summary] == [("none", "1"), ("pose", "1")]
    for line, row in zip(summary, rows, strict=True):
        assert (
            float(line["mean_progress"]) == row["progress"] and float(line["mean_seconds"]) == row["seconds"]
        )
    assert (out / "report" / "figure.png").stat().st_size > 1000
    assert "ball_in_bowl" in (out / "report" / "index.html").read_text()
