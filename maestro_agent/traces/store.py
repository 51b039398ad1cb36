"""The trace store: every trial recorded as it happens into SQLite (WAL) plus image files.

Writes go through a queue to one writer thread that commits in small batches, so recording never
blocks the agent; a trial killed midway leaves every committed row readable (WAL, one transaction per
batch). Several processes may record into the same store: SQLite serialises their writers.

Layout under ``root``: ``traces.db`` and ``<trial_id>/NNNNNN-<label>.jpg``.
"""

from __future__ import annotations

import json
import queue
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from maestro_tools.common.errors import InvalidArgumentError, NotFoundError

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    id TEXT PRIMARY KEY, instruction TEXT NOT NULL, task_type TEXT NOT NULL DEFAULT '',
    started REAL NOT NULL, ended REAL, success INTEGER, progress REAL, summary TEXT,
    substeps INTEGER DEFAULT 0, replans INTEGER DEFAULT 0, vlm TEXT DEFAULT '', harness INTEGER DEFAULT 1);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, trial_id TEXT NOT NULL, t REAL NOT NULL, kind TEXT NOT NULL,
    substep INTEGER NOT NULL DEFAULT 0, subtask INTEGER NOT NULL DEFAULT 0, line INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS events_by_trial ON events (trial_id, t);
CREATE TABLE IF NOT EXISTS tool_calls (
    id INTEGER PRIMARY KEY, trial_id TEXT NOT NULL, t REAL NOT NULL, substep INTEGER NOT NULL DEFAULT 0,
    line INTEGER NOT NULL DEFAULT 0, module TEXT NOT NULL, function TEXT NOT NULL, category TEXT NOT NULL,
    arguments TEXT NOT NULL DEFAULT '', duration REAL NOT NULL DEFAULT 0, success INTEGER NOT NULL,
    error_code INTEGER NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',
    depth INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS tool_calls_by_trial ON tool_calls (trial_id, t);
CREATE TABLE IF NOT EXISTS robot_states (
    id INTEGER PRIMARY KEY, trial_id TEXT NOT NULL, t REAL NOT NULL, names TEXT NOT NULL,
    positions TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS robot_states_by_trial ON robot_states (trial_id, t);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY, trial_id TEXT NOT NULL, t REAL NOT NULL, substep INTEGER NOT NULL DEFAULT 0,
    label TEXT NOT NULL, path TEXT NOT NULL);
"""


def open_database(path: Path, create: bool = False) -> sqlite3.Connection:
    """A connection to a trace database, checked to be one (and of a schema version this code reads).

    A file that is not a Maestro trace store is refused before anything is written to it.
    """
    existed = path.is_file() and path.stat().st_size > 0
    if not create and not existed:
        raise NotFoundError(f"no trace store at {path}")
    connection = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
    try:
        row = None
        if existed:
            row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if create and (not existed or (row is not None and int(row[0]) == SCHEMA_VERSION)):
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)  # IF NOT EXISTS: adds tables a newer writer knows
            connection.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            connection.commit()
            row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise InvalidArgumentError(f"{path} is not a Maestro trace store ({exc})") from None
    if row is None or int(row[0]) != SCHEMA_VERSION:
        connection.close()
        found = "no version" if row is None else f"version {row[0]}"
        raise InvalidArgumentError(
            f"{path} has trace schema {found}; this Maestro reads version {SCHEMA_VERSION}"
        )
    return connection


class TraceStore:
    """Records trials. ``record(trial_id, kind, **fields)`` is cheap: it enqueues; a thread writes."""

    def __init__(self, root: Path | str, batch_s: float = 0.2) -> None:
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "traces.db"
        self._db = open_database(self.path, create=True)
        self._queue: queue.Queue[tuple[str, tuple[Any, ...]] | None] = queue.Queue()
        self._batch_s = batch_s
        self._image_count = 0
        self._writer = threading.Thread(target=self._write_loop, name="trace-writer", daemon=True)
        self._writer.start()

    # -- recording (any thread) --------------------------------------------------------------------
    def start_trial(
        self, trial_id: str, instruction: str, task_type: str = "", vlm: str = "", harness: bool = True
    ) -> None:
        self._queue.put(
            (
                "INSERT OR REPLACE INTO trials (id, instruction, task_type, started, vlm, harness) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (trial_id, instruction, task_type, time.time(), vlm, int(harness)),
            )
        )

    def end_trial(
        self, trial_id: str, success: bool, progress: float, summary: str, substeps: int, replans: int
    ) -> None:
        self._queue.put(
            (
                "UPDATE trials SET ended = ?, success = ?, progress = ?, summary = ?, substeps = ?, "
                "replans = ? WHERE id = ?",
                (time.time(), int(success), progress, summary, substeps, replans, trial_id),
            )
        )

    def event(
        self,
        trial_id: str,
        kind: str,
        substep: int = 0,
        subtask: int = 0,
        line: int = 0,
        data: dict[str, Any] | None = None,
    ) -> None:
        self._queue.put(
            (
                "INSERT INTO events (trial_id, t, kind, substep, subtask, line, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (trial_id, time.time(), kind, substep, subtask, line, json.dumps(data or {}, default=str)),
            )
        )

    def tool_call(self, trial_id: str, substep: int, call: dict[str, Any]) -> None:
        self._queue.put(
            (
                "INSERT INTO tool_calls (trial_id, t, substep, line, module, function, category, arguments, "
                "duration, "
                "success, error_code, message, depth) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    trial_id,
                    time.time(),
                    substep,
                    int(call.get("line", 0) or 0),
                    str(call.get("module", "")),
                    str(call.get("function", "")),
                    str(call.get("category", "")),
                    str(call.get("arguments", "")),
                    float(call.get("duration", 0.0)),
                    int(bool(call.get("success", True))),
                    int(call.get("error_code", 0)),
                    str(call.get("message", "")),
                    int(call.get("depth", 0)),
                ),
            )
        )

    def robot_state(self, trial_id: str, stamp: float, names: list[str], positions: list[float]) -> None:
        """Joint positions (JSON lists) at ``stamp`` (unix time): the trajectory exports replay."""
        self._queue.put(
            (
                "INSERT INTO robot_states (trial_id, t, names, positions) VALUES (?, ?, ?, ?)",
                (trial_id, stamp, json.dumps(list(names)), json.dumps([float(p) for p in positions])),
            )
        )

    def image(self, trial_id: str, substep: int, label: str, rgb: np.ndarray) -> Path:
        """Write the image (JPEG) now and record it; returns its path."""
        folder = self.root / re.sub(r"[^\w-]", "_", trial_id)
        folder.mkdir(exist_ok=True)
        self._image_count += 1
        safe = re.sub(r"[^\w-]+", "_", label)[:40]
        name = f"{self._image_count:06d}-{safe}.jpg"
        cv2.imwrite(
            str(folder / name),
            cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, 85],
        )
        self._queue.put(
            (
                "INSERT INTO images (trial_id, t, substep, label, path) VALUES (?, ?, ?, ?, ?)",
                (trial_id, time.time(), substep, label, str((folder / name).relative_to(self.root))),
            )
        )
        return folder / name

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything recorded so far is committed."""
        done = threading.Event()
        self._queue.put(("__flush__", (done,)))
        done.wait(timeout)

    def close(self) -> None:
        self.flush()
        self._queue.put(None)
        self._writer.join(timeout=10.0)
        self._db.close()

    # -- the writer thread -----------------------------------------------------------------------
    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            batch, deadline = [item], time.monotonic() + self._batch_s
            while item is not None and time.monotonic() < deadline and len(batch) < 5000:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                batch.append(item)
            flushes = [
                args[0] for entry in batch if entry is not None for sql, args in [entry] if sql == "__flush__"
            ]
            rows = [entry for entry in batch if entry is not None and entry[0] != "__flush__"]
            if rows:
                with self._db:
                    for sql, args in rows:
                        self._db.execute(sql, args)
            for done in flushes:
                done.set()
            if batch[-1] is None or None in batch:
                return
