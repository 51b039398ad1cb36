"""The per-trial figure in the published style: each task a row; the original setting (axis ``none``)
and its perturbed trials (axis x seed) as columns; each trial a white-to-black bar from 0 to 100 progress
with one marker per configuration at its progress (the mean over repeats).

Drawn with matplotlib when it is installed, else with OpenCV (``backend``: auto | matplotlib | opencv).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

# sweep.AXES's order, here so that reports load without ROS (a unit test keeps them equal)
AXES = ("none", "visual", "pose", "new_object", "language")
COLUMN_LABELS = {"none": "original"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75))


@dataclass(frozen=True)
class Layout:
    tasks: list[str]  # rows, top to bottom
    columns: list[tuple[str, int]]  # (axis, seed), grouped by axis in AXES order
    configs: list[str]
    marks: dict[tuple[int, int, int], float]  # (row, column, config index) -> progress 0..100


def layout(rows: Sequence[dict[str, Any]]) -> Layout:
    """The figure's content from the rows of trials that ran (no infrastructure error)."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    configs = list(dict.fromkeys(r["config"] for r in rows))
    present = {(r["axis"], int(r["seed"])) for r in rows}
    columns = sorted(present, key=lambda c: (AXES.index(c[0]) if c[0] in AXES else len(AXES), c[0], c[1]))
    sums: dict[tuple[int, int, int], list[float]] = {}
    for r in rows:
        cell = (
            tasks.index(r["task"]),
            columns.index((r["axis"], int(r["seed"]))),
            configs.index(r["config"]),
        )
        sums.setdefault(cell, []).append(float(r["progress"]))
    marks = {cell: sum(v) / len(v) for cell, v in sums.items()}
    return Layout(tasks, columns, configs, marks)


def _groups(columns: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """(label, first column, last column) of each axis's run of columns."""
    out: list[tuple[str, int, int]] = []
    for index, (axis, _) in enumerate(columns):
        label = COLUMN_LABELS.get(axis, axis)
        if out and out[-1][0] == label:
            out[-1] = (label, out[-1][1], index)
        else:
            out.append((label, index, index))
    return out


def with_backend(backend: str, matplotlib: Callable[[], bytes], opencv: Callable[[], bytes]) -> bytes:
    """A PNG drawn with matplotlib (``backend`` auto and installed, or asked for), else with OpenCV."""
    if backend in ("auto", "matplotlib"):
        try:
            return matplotlib()
        except ImportError:
            if backend == "matplotlib":
                raise
    return opencv()


def render_png(rows: Sequence[dict[str, Any]], title: str = "", backend: str = "auto") -> bytes:
    fig = layout(rows)
    return with_backend(backend, lambda: _matplotlib(fig, title), lambda: _opencv(fig, title))


def _matplotlib(fig: Layout, title: str) -> bytes:
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ncols, nrows = max(1, len(fig.columns)), max(1, len(fig.tasks))
    figure = Figure(figsize=(2.6 + 0.75 * ncols, 1.6 + 0.55 * nrows), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    gradient = np.linspace(0.0, 1.0, 256)[None, :]
    step = 1.15
    for row in range(len(fig.tasks)):
        for col in range(len(fig.columns)):
            x0, y0 = col * step, row - 0.3
            ax.imshow(
                gradient, cmap="Greys", vmin=0, vmax=1, aspect="auto", extent=(x0, x0 + 1, y0, y0 + 0.6)
            )
            ax.add_patch(_rectangle(x0, y0))
    for (row, col, k), progress in fig.marks.items():
        y = row - 0.3 + 0.6 * (k + 1) / (len(fig.configs) + 1)
        colour = tuple(c / 255 for c in COLOURS[k % len(COLOURS)])
        ax.plot(col * step + progress / 100, y, MARKERS[k % len(MARKERS)], color=colour, mec="white", ms=7)
    for k, config in enumerate(fig.configs):
        colour = tuple(c / 255 for c in COLOURS[k % len(COLOURS)])
        ax.plot([], [], MARKERS[k % len(MARKERS)], color=colour, label=config)
    ax.set_xlim(-0.1, ncols * step)
    ax.set_ylim(nrows - 0.5, -0.9)
    ax.set_yticks(range(len(fig.tasks)), fig.tasks)
    ax.set_xticks(
        [c * step + 0.5 for c in range(len(fig.columns))], [str(s) for _, s in fig.columns], fontsize=7
    )
    ax.set_xlabel("seed (each bar: progress 0 (white) to 100 (black))")
    for label, first, last in _groups(fig.columns):
        ax.text((first + last + 1) * step / 2 - 0.07, -0.6, label, ha="center", va="center", fontsize=9)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)
    if fig.configs:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    figure.suptitle(title or "progress per trial")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _rectangle(x0: float, y0: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x0, y0), 1, 0.6, fill=False, edgecolor="0.4", linewidth=0.6)


def _opencv(fig: Layout, title: str) -> bytes:
    bar_w, bar_h, gap, left, top, row_h = 80, 30, 10, 170, 70, 50
    legend_w = 200
    width = left + max(1, len(fig.columns)) * (bar_w + gap) + legend_w
    height = top + max(1, len(fig.tasks)) * row_h + 40
    image = np.full((height, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(image, title or "progress per trial", (10, 22), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    ramp = np.linspace(255, 0, bar_w).astype(np.uint8)  # white (0) to black (100)
    for label, first, last in _groups(fig.columns):
        x = left + (first + last + 1) * (bar_w + gap) // 2 - 4 * len(label)
        cv2.putText(image, label, (x, top - 22), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for col, (_, seed) in enumerate(fig.columns):
        x = left + col * (bar_w + gap) + bar_w // 2 - 4
        y = top + (max(1, len(fig.tasks)) - 1) * row_h + bar_h + 18
        cv2.putText(image, str(seed), (x, y), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    for row, task in enumerate(fig.tasks):
        y = top + row * row_h
        cv2.putText(image, task, (10, y + bar_h // 2 + 5), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        for col in range(len(fig.columns)):
            x = left + col * (bar_w + gap)
            image[y : y + bar_h, x : x + bar_w] = ramp[None, :, None]
            cv2.rectangle(image, (x, y), (x + bar_w - 1, y + bar_h - 1), (100, 100, 100), 1)
    for (row, col, k), progress in fig.marks.items():
        x = left + col * (bar_w + gap) + round(progress / 100 * (bar_w - 1))
        y = top + row * row_h + round(bar_h * (k + 1) / (len(fig.configs) + 1))
        _marker(image, (x, y), k)
    for k, config in enumerate(fig.configs):
        x, y = width - legend_w + 10, top + 20 * k + 8
        _marker(image, (x, y), k)
        cv2.putText(image, config, (x + 12, y + 5), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("OpenCV could not encode the figure as PNG")
    return png.tobytes()


def _marker(image: np.ndarray, at: tuple[int, int], k: int) -> None:
    colour = COLOURS[k % len(COLOURS)]
    kinds = (cv2.MARKER_DIAMOND, cv2.MARKER_SQUARE, cv2.MARKER_TRIANGLE_UP, cv2.MARKER_STAR)
    if k % 5 == 0:
        cv2.circle(image, at, 6, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(image, at, 5, colour, -1, cv2.LINE_AA)
    else:
        cv2.drawMarker(image, at, (255, 255, 255), kinds[(k - 1) % 4], 13, 4)
        cv2.drawMarker(image, at, colour, kinds[(k - 1) % 4], 11, 2)
