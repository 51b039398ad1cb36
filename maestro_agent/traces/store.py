"""The trace store: every trial recorded as it happens into SQLite (WAL) plus image files.

Writes go through a queue to one writer thread that commits in small batches, so recording never
blocks the agent; a trial killed midway leaves every committed row readable (WAL, one transaction per
batch). Several processes may record into the same store: SQLite serialises their writers.

Every trial end is recorded (``end_trial``: the outcome, progress, summary and reason); a trial whose
recording process died first is marked ``interrupted`` by ``mark_interrupted`` (an agent's recorder
calls it when it opens the store): trials remember their process (host, pid, start time).

Layout under ``root``: ``traces.db``, ``<trial_id>/NNNNNN-<label>.jpg`` (the images the VLM saw) and
``<trial_id>/video/NNNNNN.jpg`` (the trial's video: downscaled camera frames, ``video.py``).
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import re
import socket
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
CREATE TABLE IF NOT EXISTS video_frames (
    id INTEGER PRIMARY KEY, trial_id TEXT NOT NULL, t REAL NOT NULL, substep INTEGER NOT NULL DEFAULT 0,
    path TEXT NOT NULL, bytes INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS video_frames_by_trial ON video_frames (trial_id, t);
"""
# Video frames: at most this wide (px), JPEG quality (a 480x360 sim frame is 12-13 kB).
VIDEO_WIDTH = 480
VIDEO_QUALITY = 75
# Columns added to schema 1 (older stores get them when a writer opens them; readers do without).
ADDED_COLUMNS = {"trials": {"outcome": "TEXT", "reason": "TEXT", "owner": "TEXT"}}
# A trial of an unknown process (another host, an older writer) without rows for this long is dead.
ORPHAN_S = 600.0


def _add_columns(connection: sqlite3.Connection) -> None:
    for table, columns in ADDED_COLUMNS.items():
        have = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns.items():
            if name not in have:
                try:
                    connection.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                except sqlite3.OperationalError as exc:  # another writer added it meanwhile
                    if "duplicate column" not in str(exc):
                        raise


def has_column(connection: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in connection.execute(f"PRAGMA table_info({table})"))


def has_table(connection: sqlite3.Connection, table: str) -> bool:
    """Whether the store has ``table`` (a store written by an older Maestro may lack newer tables)."""
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return connection.execute(query, (table,)).fetchone() is not None


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), "" where unknown, gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return ""
    return fields[19] if len(fields) > 19 and fields[0] != "Z" else ""


def this_process() -> str:
    """``host:pid:start``: names this process among every process that may record into a store."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def process_alive(owner: str) -> bool | None:
    """Whether the ``this_process()`` of some process still runs; None when it cannot be told here."""
    host, _, rest = owner.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    if start and os.path.isdir("/proc"):
        return _start_time(int(pid)) == start  # a reused pid has another start time
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
            _add_columns(connection)
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
        self._video_numbers = itertools.count(1)  # frame file numbers (next() is atomic)
        self._owner = this_process()
        self._writer = threading.Thread(target=self._write_loop, name="trace-writer", daemon=True)
        self._writer.start()

    # -- recording (any thread) --------------------------------------------------------------------
    def start_trial(
        self, trial_id: str, instruction: str, task_type: str = "", vlm: str = "", harness: bool = True
    ) -> None:
        self._queue.put(
            (
                "INSERT OR REPLACE INTO trials (id, instruction, task_type, started, vlm, harness, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (trial_id, instruction, task_type, time.time(), vlm, int(harness), self._owner),
            )
        )

    def end_trial(
        self,
        trial_id: str,
        success: bool,
        progress: float,
        summary: str,
        substeps: int,
        replans: int,
        outcome: str = "",
        reason: str = "",
    ) -> None:
        """The trial's end record; ``outcome`` (maestro_agent.loop.OUTCOMES) defaults to success/failed."""
        outcome = outcome or ("success" if success else "failed")
        self._queue.put(
            (
                "UPDATE trials SET ended = ?, success = ?, progress = ?, summary = ?, substeps = ?, "
                "replans = ?, outcome = ?, reason = ? WHERE id = ?",
                (time.time(), int(success), progress, summary, substeps, replans, outcome, reason, trial_id),
            )
        )

    def mark_interrupted(self, orphan_s: float = ORPHAN_S) -> list[str]:
        """End the trials whose recording process is gone as ``interrupted``; returns their ids.

        A trial without an end record is dead when its process (this host) no longer runs, or, where
        that cannot be told (another host, a store written by an older Maestro), when it has recorded
        nothing for ``orphan_s`` seconds. The end time is its last recorded row."""
        db = sqlite3.connect(self.path, timeout=30.0)
        try:
            rows = db.execute(
                "SELECT id, owner, max(started, "
                "coalesce((SELECT max(t) FROM events e WHERE e.trial_id = tr.id), 0), "
                "coalesce((SELECT max(t) FROM robot_states r WHERE r.trial_id = tr.id), 0)) "
                "FROM trials tr WHERE ended IS NULL"
            ).fetchall()
            now, marked = time.time(), []
            with db:
                for trial_id, owner, last in rows:
                    alive = process_alive(owner or "")
                    if owner == self._owner or alive or (alive is None and now - last < orphan_s):
                        continue
                    pid = (owner or "").split(":")[1:2]
                    who = f"its agent (pid {pid[0]})" if pid else "its agent"
                    summary = f"interrupted: {who} ended without ending the trial (killed or crashed)"
                    db.execute(
                        "UPDATE trials SET ended = ?, success = 0, summary = ?, outcome = 'interrupted', "
                        "reason = ? WHERE id = ? AND ended IS NULL",
                        (last, summary, summary, trial_id),
                    )
                    data = {"outcome": "interrupted", "success": False, "summary": summary, "reason": summary}
                    db.execute(
                        "INSERT INTO events (trial_id, t, kind, data) VALUES (?, ?, 'outcome', ?)",
                        (trial_id, last, json.dumps(data)),
                    )
                    marked.append(trial_id)
            return marked
        finally:
            db.close()

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

    def _folder(self, trial_id: str, sub: str = "") -> Path:
        folder = self.root / re.sub(r"[^\w-]", "_", trial_id) / sub
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def image(self, trial_id: str, substep: int, label: str, rgb: np.ndarray) -> Path:
        """Write the image (JPEG) now and record it; returns its path."""
        folder = self._folder(trial_id)
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

    def video_frame(
        self, trial_id: str, t: float, substep: int, rgb: np.ndarray, width: int = VIDEO_WIDTH
    ) -> tuple[str, int]:
        """Write one video frame now (RGB, downscaled to ``width`` px wide at most, JPEG) taken at ``t``
        (unix time) and record it; returns its path relative to the root and its size in bytes."""
        height, wide = rgb.shape[:2]
        if wide > width:
            size = (width, max(1, round(height * width / wide)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, VIDEO_QUALITY])
        if not ok:
            raise InvalidArgumentError(f"cannot encode a video frame of shape {rgb.shape}")
        path = self._folder(trial_id, "video") / f"{next(self._video_numbers):06d}.jpg"
        path.write_bytes(data.tobytes())
        relative = str(path.relative_to(self.root))
        self._queue.put(
            (
                "INSERT INTO video_frames (trial_id, t, substep, path, bytes) VALUES (?, ?, ?, ?, ?)",
                (trial_id, t, substep, relative, len(data)),
            )
        )
        return relative, len(data)

    def delete_video_frames(self, trial_id: str, paths: list[str]) -> None:
        """Remove video frames (files now, rows with the next batch): a long trial's video is thinned."""
        for relative in paths:
            (self.root / relative).unlink(missing_ok=True)
            self._queue.put(
                ("DELETE FROM video_frames WHERE trial_id = ? AND path = ?", (trial_id, relative))
            )

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
