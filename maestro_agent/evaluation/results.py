"""The results file of a sweep: one JSON object per line, appended (and synced) as each trial ends.

A row is a trial's ``Trial.to_json()`` (key, task, axis, seed, repeat, config, dimensions, launch) plus
its ``TrialRecord`` fields and how it ran (attempts, infra_errors of the earlier attempts, worker,
domain_id, graph_start_s, graph_rss_mb, finished). ``error`` non-empty: an infrastructure failure after
every retry, not a task failure. A key may appear more than once (a resumed sweep reran a failed trial):
the last row counts.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from maestro_tools.common.errors import InvalidArgumentError, NotFoundError

RESULTS_VERSION = 1
RESULTS_NAME = "results.jsonl"


def results_path(path: Path | str) -> Path:
    """The results file of an out folder, or the file itself."""
    path = Path(path)
    return path / RESULTS_NAME if path.is_dir() else path


def read_rows(path: Path | str) -> list[dict[str, Any]]:
    """Every row of a results file; a torn line (the sweep was killed while writing it) is skipped."""
    file = results_path(path)
    if not file.is_file():
        raise NotFoundError(f"no results file at {file}; run `maestro eval SPEC --out DIR` first")
    rows = []
    lines = file.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(row, dict) or "key" not in row:
            raise InvalidArgumentError(f"{file}:{number}: not a sweep results row")
        if row.get("version", 0) > RESULTS_VERSION:
            raise InvalidArgumentError(
                f"{file}:{number}: results version {row['version']} is newer than this code"
            )
        rows.append(row)
    return rows


def latest(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per trial key, the last one written, in first-seen order."""
    by_key: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_key[row["key"]] = row
    return list(by_key.values())


def completed_keys(path: Path | str) -> set[str]:
    """Keys of the trials whose last row ran (no infrastructure error): what --resume skips."""
    if not results_path(path).is_file():
        return set()
    return {row["key"] for row in latest(read_rows(path)) if not row.get("error")}


class ResultsWriter:
    """Appends rows to the results file from several threads; each row is flushed and synced."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        if self.path.is_file() and self.path.stat().st_size:  # end a torn last line before appending
            with self.path.open("rb") as file:
                file.seek(-1, os.SEEK_END)
                torn = file.read(1) != b"\n"
            if torn:
                with self.path.open("a") as file:
                    file.write("\n")

    def append(self, row: dict[str, Any]) -> None:
        line = json.dumps({"version": RESULTS_VERSION, **row}, sort_keys=True) + "\n"
        with self._lock, self.path.open("a") as file:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())
