"""The report's HTML page: one static file next to its figure and exports (no script, no network)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 8px 0 24px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td.text { text-align: left; }
tr.infra td { background: #fdeaea; }
nav a { margin-right: 14px; } img { max-width: 100%; border: 1px solid #ddd; }
"""


def _cell(value: Any, text: bool = False) -> str:
    if isinstance(value, float):
        value = f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
    return f"<td{' class=text' if text else ''}>{escape(str(value))}</td>"


def _table(table_id: str, items: Sequence[dict[str, Any]], fields: Sequence[str], texts: set[str]) -> str:
    head = "".join(f"<th>{escape(f)}</th>" for f in fields)
    rows = []
    for item in items:
        data = " ".join(f'data-{f.replace("_", "-")}="{escape(str(item.get(f, "")))}"' for f in fields)
        css = ' class="infra"' if item.get("error") else ""
        cells = "".join(_cell(item.get(f, ""), f in texts) for f in fields)
        rows.append(f"<tr{css} {data}>{cells}</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _ablation(points: Sequence[dict[str, Any]], texts: set[str]) -> str:
    if not points:
        return ""
    fields = ("series", "tools", "trials", "mean_progress", "std_progress", "success_rate")
    return f"""<h2>Tool-group ablation</h2>
<p>Mean progress per tool group (S0 base, S1 +perception, S2 +grasp/control, S3 +geometry), a series per
harness setting and the other dimensions.</p>
<img id="ablation-figure" src="ablation.png" alt="mean progress per tool group, a line per series">
{_table("ablation", points, fields, texts | {"series", "tools"})}"""


def page(report: dict[str, Any], title: str) -> str:
    summary_fields = (
        "task", "axis", "config", "trials", "mean_progress", "std_progress", "success_rate", "mean_seconds",
        "mean_substeps", "mean_replans", "mean_tokens", "infra_failures",
    )  # fmt: skip
    trial_fields = (
        "key", "success", "progress", "seconds", "substeps", "replans", "input_tokens", "output_tokens",
        "attempts", "error", "trial_id", "summary",
    )  # fmt: skip
    texts = {"task", "axis", "config", "key", "error", "trial_id", "summary"}
    trials = report["trials"]
    infra = len(report["infra_failures"])
    counts = f"{len(trials)} trial(s), {len(trials) - infra} ran, {infra} infrastructure failure(s)"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sweep report: {escape(title)}</title>
<style>{STYLE}</style></head>
<body>
<h1>Sweep report: {escape(title)}</h1>
<p id="counts">{escape(counts)}</p>
<nav><a id="png" href="figure.png">figure (PNG)</a><a id="summary-csv" href="summary.csv">summary (CSV)</a>
<a id="trials-csv" href="trials.csv">trials (CSV)</a><a id="json" href="report.json">report (JSON)</a></nav>
<h2>Per configuration</h2>
{
        _table(
            "overall",
            report["overall"],
            ("config", "trials", "mean_progress", "std_progress", "success_rate", "infra_failures"),
            texts,
        )
    }
{_ablation(report.get("ablation", []), texts)}
<h2>Per task and axis</h2>
<p>Mean progress (0-100) with its standard deviation (n-1) and success rate over the trials that ran;
trials with an infrastructure failure are counted apart.</p>
{_table("summary", report["summary"], summary_fields, texts)}
<h2>Per trial</h2>
<img id="figure" src="figure.png" alt="progress per trial: each task a row, each trial a white-to-black bar">
{_table("trials", trials, trial_fields, texts)}
</body></html>
"""
