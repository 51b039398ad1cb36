"""``maestro report``: a sweep's results as tables, the per-trial figure and an HTML page with exports.

Per task x axis x configuration: trials, mean progress, its standard deviation (sample, n-1; 0 for one
trial), success rate, and mean time, substeps, replans and tokens. Trials with an infrastructure error
(``error``) are left out of those numbers and counted apart. Tokens come from the trace store's
``tokens`` events, joined on trial_id (0 where the store has none, e.g. the scripted backend).
``injected_faults`` (trials.csv): faults the fault-injection dimension injected into the trial ("" without).

With a ``tools`` dimension of two or more tool groups, the ablation (evaluation/ablation.py): mean progress
per series (harness on/off, faults, VLM) and tool group, and its curve.

Writes to OUT: ``index.html``, ``figure.png``, ``ablation.png`` (with an ablation), ``summary.csv``,
``trials.csv`` and ``report.json``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from maestro_agent.evaluation import ablation, figure, page
from maestro_agent.evaluation.figure import AXES
from maestro_agent.evaluation.results import latest, read_rows, results_path

REPORT_VERSION = 1
SUMMARY_FIELDS = (
    "task", "axis", "config", "trials", "mean_progress", "std_progress", "success_rate", "mean_seconds",
    "mean_substeps", "mean_replans", "mean_tokens", "infra_failures",
)  # fmt: skip
TRIAL_FIELDS = (
    "key", "task", "axis", "seed", "config", "repeat", "success", "progress", "seconds", "substeps",
    "replans", "input_tokens", "output_tokens", "attempts", "error", "trial_id", "instruction", "summary",
    "injected_faults",
)  # fmt: skip


def tokens(store: Path | None, trial_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(input, output) tokens per trial id from the trace store's ``tokens`` events ({} without a store)."""
    database = None if store is None else (store if store.suffix == ".db" else store / "traces.db")
    wanted = [t for t in trial_ids if t]
    if database is None or not database.is_file() or not wanted:
        return {}
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30.0)
    try:
        marks = ",".join("?" * len(wanted))
        rows = connection.execute(
            f"SELECT trial_id, data FROM events WHERE kind = 'tokens' AND trial_id IN ({marks})", wanted
        ).fetchall()
    except sqlite3.DatabaseError:
        return {}
    finally:
        connection.close()
    out: dict[str, tuple[int, int]] = {}
    for trial_id, data in rows:
        fields = json.loads(data or "{}")
        had = out.get(trial_id, (0, 0))
        out[trial_id] = (
            had[0] + int(fields.get("input_tokens", 0)),
            had[1] + int(fields.get("output_tokens", 0)),
        )
    return out


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _std(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = _mean(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _axis_order(axis: str) -> int:
    return AXES.index(axis) if axis in AXES else len(AXES)


def summarise(rows: Sequence[dict[str, Any]], token_counts: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """The report's numbers from results rows (the last row per key counts)."""
    trials = []
    for row in latest(rows):
        spent = token_counts.get(row.get("trial_id", ""), (0, 0))
        trials.append({**row, "input_tokens": spent[0], "output_tokens": spent[1]})
    ran = [t for t in trials if not t.get("error")]
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for t in trials:
        cells.setdefault((t["task"], t["axis"], t["config"]), []).append(t)
    tasks = list(dict.fromkeys(t["task"] for t in trials))
    order = sorted(cells, key=lambda c: (tasks.index(c[0]), _axis_order(c[1]), c[1], c[2]))
    summary = []
    for task, axis, config in order:
        mine = [t for t in cells[(task, axis, config)] if not t.get("error")]
        progress = [float(t["progress"]) for t in mine]
        summary.append(
            {
                "task": task,
                "axis": axis,
                "config": config,
                "trials": len(mine),
                "mean_progress": round(_mean(progress), 2),
                "std_progress": round(_std(progress), 2),
                "success_rate": round(_mean([float(bool(t["success"])) for t in mine]), 4),
                "mean_seconds": round(_mean([float(t["seconds"]) for t in mine]), 2),
                "mean_substeps": round(_mean([float(t["substeps"]) for t in mine]), 2),
                "mean_replans": round(_mean([float(t["replans"]) for t in mine]), 2),
                "mean_tokens": round(_mean([float(t["input_tokens"] + t["output_tokens"]) for t in mine]), 2),
                "infra_failures": len(cells[(task, axis, config)]) - len(mine),
            }
        )
    configs = list(dict.fromkeys(t["config"] for t in trials))
    overall = []
    for config in configs:
        mine = [t for t in ran if t["config"] == config]
        progress = [float(t["progress"]) for t in mine]
        overall.append(
            {
                "config": config,
                "trials": len(mine),
                "mean_progress": round(_mean(progress), 2),
                "std_progress": round(_std(progress), 2),
                "success_rate": round(_mean([float(bool(t["success"])) for t in mine]), 4),
                "infra_failures": sum(1 for t in trials if t["config"] == config and t.get("error")),
            }
        )
    return {
        "version": REPORT_VERSION,
        "sweeps": sorted({str(t.get("sweep", "")) for t in trials}),
        "summary": summary,
        "overall": overall,
        "ablation": ablation.points(ran),
        "trials": [{f: t.get(f, "") for f in TRIAL_FIELDS} for t in trials],
        "infra_failures": [
            {f: t.get(f, "") for f in ("key", "error", "attempts")} for t in trials if t.get("error")
        ],
    }


def to_csv(items: Sequence[dict[str, Any]], fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(items)
    return buffer.getvalue()


def write_report(
    results: Path | str, out: Path | str | None = None, store: Path | str | None = None, backend: str = "auto"
) -> list[Path]:
    """Write the report of a results folder or file; the paths written, the HTML page first."""
    file = results_path(results)
    rows = read_rows(file)
    out = Path(out) if out else file.parent / "report"
    store_path = Path(store) if store else file.parent / "traces"
    report = summarise(rows, tokens(store_path, [r.get("trial_id", "") for r in latest(rows)]))
    out.mkdir(parents=True, exist_ok=True)
    title = ", ".join(s for s in report["sweeps"] if s) or file.parent.name
    ran = [t for t in report["trials"] if not t["error"]]
    files = {
        "figure.png": figure.render_png(ran, f"{title}: progress per trial", backend),
        "summary.csv": to_csv(report["summary"], SUMMARY_FIELDS).encode(),
        "trials.csv": to_csv(report["trials"], TRIAL_FIELDS).encode(),
        "report.json": (json.dumps(report, indent=1) + "\n").encode(),
        "index.html": page.page(report, title).encode(),
    }
    written = []
    if report["ablation"]:  # a tools dimension: the ablation curve
        files["ablation.png"] = ablation.render_png(report["ablation"], f"{title}: tool groups", backend)
    else:
        (out / "ablation.png").unlink(missing_ok=True)
    for name in ("index.html", "figure.png", "ablation.png", "summary.csv", "trials.csv", "report.json"):
        if name not in files:
            continue
        (out / name).write_bytes(files[name])
        written.append(out / name)
    return written
