"""Orchestration analytics over a trace store: which tools the generated code called, and in what order.

Only depth-0 tool calls count (the calls the generated code made itself, not those nested inside another
tool). Trials can be filtered by task type and by whether they used a VLA tool (any tool call, nested or
not, with category or module "vla"). Everything is aggregated in SQL, so 10,000s of calls take
milliseconds.

CSV export is one file with a ``table`` column (``modules``, ``functions``, ``categories``,
``module_transitions``, ``function_transitions``, ``bigrams``, ``trials``): ``source`` is the module,
``module.function``, category or trial id, ``target`` the next module/function of a transition, and
``count`` the number of calls (transitions, or a trial's depth-0 calls); the trial columns are blank on
the other tables. PNG export draws the module transition heat map and bar charts (matplotlib when it
is installed, else OpenCV).
"""

from __future__ import annotations

import csv
import io
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from maestro_agent.traces.store import open_database

VLA_TRIALS = "SELECT DISTINCT trial_id FROM tool_calls WHERE category = 'vla' OR module = 'vla'"
# Selected trials, then their depth-0 calls; every query below starts with these CTEs.
CTE = f"""WITH vla AS ({VLA_TRIALS}),
sel AS (SELECT id FROM trials WHERE (:task = '' OR task_type = :task)
        AND (:vla IS NULL OR (id IN vla) = :vla)),
calls AS (SELECT id, trial_id, t, module, module || '.' || function AS fn, category, success
          FROM tool_calls WHERE depth = 0 AND trial_id IN sel) """
CSV_COLUMNS = (
    "table",
    "source",
    "target",
    "count",
    "task_type",
    "success",
    "progress",
    "duration_s",
    "substeps",
    "replans",
    "failed_calls",
    "vla",
    "outcome",
)


@dataclass
class TrialSummary:
    id: str
    task_type: str
    instruction: str
    started: float
    ended: float | None
    success: bool | None
    outcome: str  # maestro_agent.loop.OUTCOMES or "interrupted"; "" while the trial runs
    progress: float | None
    substeps: int
    replans: int
    vlm: str
    calls: int
    failed_calls: int
    vla: bool

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.started

    @property
    def outcome_text(self) -> str:
        return self.outcome or "running"


@dataclass
class Analytics:
    task_type: str = ""
    vla: bool | None = None
    task_types: list[str] = field(default_factory=list)
    trials: list[TrialSummary] = field(default_factory=list)
    modules: dict[str, int] = field(default_factory=dict)
    functions: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # failed depth-0 calls per module
    module_transitions: dict[tuple[str, str], int] = field(default_factory=dict)
    function_transitions: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return sum(self.modules.values())

    @property
    def outcomes(self) -> dict[str, int]:
        """Trials per outcome: cancelled, interrupted or errored trials are not counted as failed."""
        counts: dict[str, int] = {}
        for t in self.trials:
            counts[t.outcome_text] = counts.get(t.outcome_text, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def bigrams(self, top: int = 15) -> list[tuple[str, str, int]]:
        ranked = sorted(self.function_transitions.items(), key=lambda item: (-item[1], item[0]))
        return [(a, b, n) for (a, b), n in ranked[:top]]

    def matrix(self) -> tuple[list[str], np.ndarray]:
        """The module transition matrix: rows are the 'from' module, columns the 'to' module."""
        labels = sorted({m for pair in self.module_transitions for m in pair} | set(self.modules))
        index = {m: i for i, m in enumerate(labels)}
        grid = np.zeros((len(labels), len(labels)), np.int64)
        for (a, b), n in self.module_transitions.items():
            grid[index[a], index[b]] = n
        return labels, grid

    def to_json(self) -> dict[str, Any]:
        labels, grid = self.matrix()
        return {
            "task_type": self.task_type,
            "vla": self.vla,
            "task_types": self.task_types,
            "calls": self.calls,
            "modules": self.modules,
            "functions": self.functions,
            "categories": self.categories,
            "failures": self.failures,
            "outcomes": self.outcomes,
            "transition_labels": labels,
            "transition_matrix": grid.tolist(),
            "module_transitions": [[a, b, n] for (a, b), n in self.module_transitions.items()],
            "function_transitions": [[a, b, n] for (a, b), n in self.function_transitions.items()],
            "bigrams": [list(item) for item in self.bigrams()],
            "trials": [{**asdict(t), "duration": t.duration} for t in self.trials],
        }


def compute(db: sqlite3.Connection, task_type: str = "", vla: bool | None = None) -> Analytics:
    """Aggregate the depth-0 tool calls of the trials matching the filters."""
    params = {"task": task_type or "", "vla": None if vla is None else int(vla)}

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return db.execute(CTE + sql, params).fetchall()

    def counts(column: str) -> dict[str, int]:
        return {k: n for k, n in rows(f"SELECT {column}, count(*) FROM calls GROUP BY 1 ORDER BY 2 DESC, 1")}

    def transitions(column: str) -> dict[tuple[str, str], int]:
        pairs = rows(
            f"SELECT prev, cur, count(*) FROM (SELECT LAG({column}) OVER (PARTITION BY trial_id "
            f"ORDER BY t, id) AS prev, {column} AS cur FROM calls) WHERE prev IS NOT NULL "
            "GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
        )
        return {(a, b): n for a, b, n in pairs}

    trials = rows(
        "SELECT tr.id, tr.task_type, tr.instruction, tr.started, tr.ended, tr.success, tr.progress, "
        "tr.substeps, tr.replans, tr.vlm, count(c.id), coalesce(sum(c.success = 0), 0), tr.id IN vla, "
        "tr.outcome "
        "FROM trials tr LEFT JOIN calls c ON c.trial_id = tr.id WHERE tr.id IN sel "
        "GROUP BY tr.id ORDER BY tr.started, tr.id"
    )
    return Analytics(
        task_type=params["task"],
        vla=vla,
        task_types=[r[0] for r in db.execute("SELECT DISTINCT task_type FROM trials ORDER BY 1")],
        trials=[
            TrialSummary(
                *r[:5],
                None if r[5] is None else bool(r[5]),
                _outcome(r[13], r[5]),
                r[6],
                int(r[7] or 0),
                int(r[8] or 0),
                r[9] or "",
                r[10],
                r[11],
                bool(r[12]),
            )
            for r in trials
        ],
        modules=counts("module"),
        functions=counts("fn"),
        categories=counts("category"),
        failures={k: n for k, n in rows("SELECT module, count(*) FROM calls WHERE success = 0 GROUP BY 1")},
        module_transitions=transitions("module"),
        function_transitions=transitions("fn"),
    )


def _outcome(recorded: str | None, success: int | None) -> str:
    """The recorded outcome; stores written before outcomes were recorded only know success or failure."""
    if recorded:
        return recorded
    return "" if success is None else ("success" if success else "failed")


def load(store_root: Path | str, task_type: str = "", vla: bool | None = None) -> Analytics:
    """Open ``store_root/traces.db`` (checked to be a trace store), compute, close."""
    db = open_database(Path(store_root).expanduser() / "traces.db")
    try:
        db.execute("PRAGMA query_only = 1")
        return compute(db, task_type, vla)
    finally:
        db.close()


# -- text and CSV -----------------------------------------------------------------------------------
def format_tables(a: Analytics, top: int = 15) -> str:
    """The tables as plain text, for the terminal."""
    vla = {None: "any", True: "yes", False: "no"}[a.vla]
    task = a.task_type or "any"
    out = [f"{len(a.trials)} trial(s), {a.calls} depth-0 tool call(s) (task type: {task}, VLA: {vla})"]

    def table(title: str, items: list[tuple[str, int]]) -> None:
        out.append(f"\n{title}")
        width = max((len(k) for k, _ in items), default=0)
        out.extend(f"  {k:<{width}}  {n:>6}" for k, n in items[:top])
        if not items:
            out.append("  (none)")

    table("calls per module", list(a.modules.items()))
    table("calls per function", list(a.functions.items()))
    table("calls per category", list(a.categories.items()))
    table("module transitions", [(f"{x} -> {y}", n) for (x, y), n in a.module_transitions.items()])
    table("top function bigrams", [(f"{x} -> {y}", n) for x, y, n in a.bigrams(top)])
    table("trials per outcome", list(a.outcomes.items()))
    out.append("\ntrials")
    for t in a.trials:
        vla_mark = " vla" if t.vla else ""
        out.append(f"  {t.id}  {t.task_type or '-':<16} {t.outcome_text:<16} {t.calls:>5} calls{vla_mark}")
    return "\n".join(out) + "\n"


def to_csv(a: Analytics) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    blank = [""] * (len(CSV_COLUMNS) - 4)
    for name, items in (("modules", a.modules), ("functions", a.functions), ("categories", a.categories)):
        writer.writerows([name, k, "", n, *blank] for k, n in items.items())
    for name, pairs in (
        ("module_transitions", a.module_transitions),
        ("function_transitions", a.function_transitions),
    ):
        writer.writerows([name, x, y, n, *blank] for (x, y), n in pairs.items())
    writer.writerows(["bigrams", x, y, n, *blank] for x, y, n in a.bigrams())
    for t in a.trials:
        duration = "" if t.duration is None else f"{t.duration:.3f}"
        success = "" if t.success is None else int(t.success)
        extra = [t.progress, duration, t.substeps, t.replans, t.failed_calls, int(t.vla), t.outcome]
        writer.writerow(["trials", t.id, "", t.calls, t.task_type, success, *extra])
    return buffer.getvalue()


def write_csv(a: Analytics, path: Path | str) -> Path:
    path = Path(path)
    path.write_text(to_csv(a), encoding="utf-8")
    return path


# -- PNG --------------------------------------------------------------------------------------------
def render_png(a: Analytics, backend: str = "auto") -> bytes:
    """PNG bytes: the module transition heat map and bar charts. backend: auto | matplotlib | opencv."""
    if backend in ("auto", "matplotlib"):
        try:
            return _render_matplotlib(a)
        except ImportError:
            if backend == "matplotlib":
                raise
    return _render_opencv(a)


def write_png(a: Analytics, path: Path | str, backend: str = "auto") -> Path:
    path = Path(path)
    path.write_bytes(render_png(a, backend))
    return path


def _title(a: Analytics) -> str:
    vla = {None: "any", True: "yes", False: "no"}[a.vla]
    return f"{a.calls} calls in {len(a.trials)} trials (task: {a.task_type or 'any'}, VLA: {vla})"


def _render_matplotlib(a: Analytics) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(14, 10), dpi=80)
    FigureCanvasAgg(figure)
    figure.suptitle(_title(a))
    heat, modules, categories, bigrams = figure.subplots(2, 2).flat
    labels, grid = a.matrix()
    heat.imshow(grid if grid.size else np.zeros((1, 1)), cmap="Blues")
    heat.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    heat.set_yticks(range(len(labels)), labels)
    heat.set(title="module transitions (row -> column)", xlabel="to", ylabel="from")
    for (i, j), n in np.ndenumerate(grid):
        color = "white" if n > grid.max() / 2 else "black"
        heat.text(j, i, str(n), ha="center", va="center", color=color, fontsize=9)
    for axes, title, items in (
        (modules, "calls per module", list(a.modules.items())),
        (categories, "calls per category", list(a.categories.items())),
        (bigrams, "top function bigrams", [(f"{x} -> {y}", n) for x, y, n in a.bigrams(10)]),
    ):
        axes.barh([k for k, _ in items][::-1], [n for _, n in items][::-1], color="#4a7fb5")
        axes.set_title(title)
        axes.tick_params(axis="y", labelsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _text(img: np.ndarray, text: str, x: int, y: int, scale: float = 0.45, color: tuple = (0, 0, 0)) -> None:
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)


Items = list[tuple[str, int]]


def _bars(img: np.ndarray, x: int, y: int, w: int, title: str, items: Items, rows: int) -> None:
    _text(img, title, x, y, 0.6)
    top = max((n for _, n in items), default=1) or 1
    label_w = 250 if w < 1000 else 520
    for row, (label, n) in enumerate(items[:rows]):
        yy = y + 20 + row * 26
        _text(img, label[: label_w // 7], x, yy + 14)
        length = int((w - label_w - 50) * n / top)
        cv2.rectangle(img, (x + label_w, yy), (x + label_w + max(1, length), yy + 18), (181, 127, 74), -1)
        _text(img, str(n), x + label_w + 6 + length, yy + 14)


def _render_opencv(a: Analytics) -> bytes:
    img = np.full((1000, 1400, 3), 255, np.uint8)
    _text(img, _title(a), 20, 30, 0.7)
    labels, grid = a.matrix()
    _text(img, "module transitions (row -> column)", 20, 70, 0.6)
    cell = min(60, 520 // max(1, len(labels)))
    x0, y0 = 140, 190
    peak = max(1, int(grid.max(initial=0)))
    # white (no transitions) to dark blue (the most), in BGR
    shade = 255 - (grid[..., None] / peak) * np.array([255 - 171, 255 - 99, 255 - 37])
    for i, label in enumerate(labels):
        _text(img, label[:14], 20, y0 + i * cell + cell // 2 + 5)
        _text(img, label[:10], x0 + i * cell + 2, y0 - 10 - (i % 2) * 16, 0.4)
        for j in range(len(labels)):
            p, q = (x0 + j * cell, y0 + i * cell), (x0 + (j + 1) * cell, y0 + (i + 1) * cell)
            cv2.rectangle(img, p, q, tuple(int(c) for c in shade[i, j]), -1)
            cv2.rectangle(img, p, q, (200, 200, 200), 1)
            dark = grid[i, j] > peak / 2
            _text(img, str(grid[i, j]), p[0] + 4, p[1] + cell // 2 + 5, 0.4, (255,) * 3 if dark else (0,) * 3)
    if not labels:
        _text(img, "(no tool calls)", x0, y0 + 20)
    _bars(img, 720, 70, 660, "calls per module", list(a.modules.items()), 12)
    _bars(img, 720, 420, 660, "calls per category", list(a.categories.items()), 10)
    _bars(img, 20, 740, 1300, "top function bigrams", [(f"{x} > {y}", n) for x, y, n in a.bigrams(8)], 8)
    ok, data = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError("OpenCV could not encode the analytics PNG")
    return data.tobytes()
