"""The additive ablation: mean progress per tool group (S0 base ... S3 every tool), one series per harness
setting and whatever other dimensions the sweep crossed (faults, VLM), and its curve as a PNG.

A sweep without a ``tools`` dimension of at least two groups has no ablation (``points`` returns []).
Drawn with matplotlib when it is installed, else with OpenCV, like the per-trial figure.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from maestro_agent.evaluation.figure import COLOURS, MARKERS, with_backend

# proxy.registry.TOOL_GROUPS's order, here so that reports load without ROS (a unit test keeps them equal)
GROUPS = ("S0", "S1", "S2", "S3")
FULL_GROUP = "S3"


def series(dimensions: dict[str, Any]) -> str:
    """A trial's series: its configuration less the tool group (harness on or off, faults, the VLM)."""
    vlm = dimensions.get("vlm") or {"backend": "scripted", "model": ""}
    parts = ["harness" if dimensions.get("harness", True) else "no harness"]
    if dimensions.get("faults", "none") != "none":
        parts.append(str(dimensions["faults"]))
    if vlm.get("backend") != "scripted" or vlm.get("model"):
        parts.append(vlm["backend"] + (f":{vlm['model']}" if vlm.get("model") else ""))
    return ", ".join(parts)


def points(trials: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per series and tool group: trials, mean and standard deviation (n-1) of progress, success rate.
    ``trials``: rows that ran (no infrastructure error), with their ``dimensions``."""
    groups = {t.get("dimensions", {}).get("tools", FULL_GROUP) for t in trials}
    if len(groups) < 2:
        return []
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for t in trials:
        dimensions = t.get("dimensions", {})
        cells.setdefault((series(dimensions), dimensions.get("tools", FULL_GROUP)), []).append(t)
    order = sorted(cells, key=lambda c: (not c[0].startswith("harness"), c[0], GROUPS.index(c[1])))
    out = []
    for name, group in order:
        progress = [float(t["progress"]) for t in cells[(name, group)]]
        mean = sum(progress) / len(progress)
        spread = (
            math.sqrt(sum((p - mean) ** 2 for p in progress) / (len(progress) - 1))
            if len(progress) > 1
            else 0.0
        )
        out.append(
            {
                "series": name,
                "tools": group,
                "trials": len(progress),
                "mean_progress": round(mean, 2),
                "std_progress": round(spread, 2),
                "success_rate": round(
                    sum(bool(t["success"]) for t in cells[(name, group)]) / len(progress), 4
                ),
            }
        )
    return out


def render_png(rows: Sequence[dict[str, Any]], title: str = "", backend: str = "auto") -> bytes:
    """The curve: tool groups on x, mean progress on y (error bars: one standard deviation), a line per
    series."""
    return with_backend(backend, lambda: _matplotlib(rows, title), lambda: _opencv(rows, title))


def _by_series(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["series"], []).append(row)
    return out


def _matplotlib(rows: Sequence[dict[str, Any]], title: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.0, 3.8), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    named = _by_series(rows)
    for k, (name, mine) in enumerate(named.items()):
        dodge = (k - (len(named) - 1) / 2) * 0.06  # series side by side, so equal means stay visible
        x = [GROUPS.index(r["tools"]) + dodge for r in mine]
        colour = tuple(c / 255 for c in COLOURS[k % len(COLOURS)])
        style = "-" if name.startswith("harness") else "--"
        ax.errorbar(
            x,
            [r["mean_progress"] for r in mine],
            yerr=[r["std_progress"] for r in mine],
            fmt=MARKERS[k % len(MARKERS)] + style,
            color=colour,
            ecolor=(*colour, 0.35),
            capsize=3,
            label=name,
        )
    ax.set_xticks(range(len(GROUPS)), ["S0 base", "S1 +perception", "S2 +grasp/control", "S3 +geometry"])
    ax.set_ylim(-5, 105)
    ax.set_ylabel("mean progress (bars: 1 std)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.suptitle(title or "tool-group ablation")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _opencv(rows: Sequence[dict[str, Any]], title: str) -> bytes:
    width, height, left, top, plot_w, plot_h = 640, 380, 60, 40, 400, 280
    image = np.full((height, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(image, title or "tool-group ablation", (10, 22), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(image, (left, top), (left + plot_w, top + plot_h), (120, 120, 120), 1)

    def at(group: str, progress: float) -> tuple[int, int]:
        x = left + round((GROUPS.index(group) + 0.5) * plot_w / len(GROUPS))
        return x, top + round((1.0 - progress / 100.0) * plot_h)

    for group in GROUPS:
        cv2.putText(image, group, (at(group, 0)[0] - 10, top + plot_h + 18), font, 0.45, (0, 0, 0), 1)
    for k, (name, mine) in enumerate(_by_series(rows).items()):
        colour = COLOURS[k % len(COLOURS)]
        marks = [at(r["tools"], r["mean_progress"]) for r in mine]
        for a, b in itertools.pairwise(marks):
            cv2.line(image, a, b, colour, 2, cv2.LINE_AA)
        for point in marks:
            cv2.circle(image, point, 5, colour, -1, cv2.LINE_AA)
        y = top + 12 + 18 * k
        cv2.line(image, (left + plot_w + 12, y), (left + plot_w + 32, y), colour, 2)
        cv2.putText(image, name[:24], (left + plot_w + 36, y + 4), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("OpenCV could not encode the ablation curve as PNG")
    return png.tobytes()
