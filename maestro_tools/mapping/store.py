"""Where the semantic map persists: a small interface, an SQLite backend (one file per map name under a
directory) and an in-memory one (tests, throwaway maps).

The map keeps its working set in memory and writes every change through ``MapStore.write`` in one
transaction, so a restart reloads exactly what was last committed. The SQLite file carries its format
name and version in a ``meta`` table; a file that is not SQLite, is corrupt, or holds something else
(or a newer format) is refused with an error naming the file.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.mapping.entries import MapEntry, View

FORMAT = "maestro-semantic-map"
FORMAT_VERSION = 1
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class MapStore(Protocol):
    location: str  # where the map lives, for messages

    def load(self) -> tuple[list[MapEntry], int, int]: ...  # entries, map version, next id number
    def write(
        self, changed: Sequence[MapEntry], removed: Sequence[str], version: int, next_id: int
    ) -> None: ...
    def close(self) -> None: ...


class MemoryStore:
    """Keeps nothing beyond the process: the map starts empty each time."""

    location = "memory"

    def load(self) -> tuple[list[MapEntry], int, int]:
        return [], 0, 1

    def write(self, changed: Sequence[MapEntry], removed: Sequence[str], version: int, next_id: int) -> None:
        pass

    def close(self) -> None:
        pass


SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE objects(
  id TEXT PRIMARY KEY, label TEXT NOT NULL, tags TEXT NOT NULL,
  position BLOB NOT NULL, rotation BLOB NOT NULL, extent BLOB NOT NULL,
  confidence REAL NOT NULL, observations INTEGER NOT NULL, first_seen REAL NOT NULL,
  last_seen REAL NOT NULL, camera TEXT NOT NULL, version INTEGER NOT NULL);
CREATE TABLE views(
  object_id TEXT NOT NULL, rank INTEGER NOT NULL, camera TEXT NOT NULL, stamp REAL NOT NULL,
  viewpoint BLOB NOT NULL, box TEXT NOT NULL, score REAL NOT NULL, crop BLOB NOT NULL,
  PRIMARY KEY(object_id, rank));
"""


def _array(blob: bytes, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float64).reshape(shape).copy()


class SqliteStore:
    """``<directory>/<name>.sqlite``; created when missing, refused when it is not a map of this format."""

    def __init__(self, directory: str | Path, name: str) -> None:
        if not NAME.fullmatch(name):
            raise InvalidArgumentError(
                f"map name {name!r} must be 1-64 letters, digits, '_' or '-' (it names a file)"
            )
        folder = Path(directory).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{name}.sqlite"
        self.location = str(self.path)
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        try:
            self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            if fresh:
                self._create()
            else:
                self._check()
        except sqlite3.DatabaseError as exc:
            raise self._refused(f"it is not a readable SQLite database ({exc})") from None

    def _refused(self, why: str) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"semantic map file {self.path} refused: {why}; move it away or choose another map_name"
        )

    def _create(self) -> None:
        self.db.executescript(SCHEMA.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"))
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR REPLACE INTO meta VALUES(?, ?)",
                [
                    ("format", FORMAT),
                    ("format_version", str(FORMAT_VERSION)),
                    ("version", "0"),
                    ("next_id", "1"),
                ],
            )

    def _check(self) -> None:
        tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            raise self._refused(f"it holds no Maestro map (tables: {', '.join(sorted(tables)) or 'none'})")
        meta = dict(self.db.execute("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT:
            raise self._refused(f"its format is {meta.get('format')!r}, not {FORMAT!r}")
        version = int(meta.get("format_version", "0"))
        if version > FORMAT_VERSION:
            raise self._refused(f"format version {version} is newer than this code's {FORMAT_VERSION}")
        if not {"objects", "views"} <= tables:
            raise self._refused("its objects or views table is missing")
        problem = self.db.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise self._refused(f"it is corrupt ({problem})")

    def load(self) -> tuple[list[MapEntry], int, int]:
        try:
            meta = dict(self.db.execute("SELECT key, value FROM meta"))
            views: dict[str, list[View]] = {}
            for row in self.db.execute("SELECT * FROM views ORDER BY object_id, rank"):
                box = tuple(int(v) for v in row[5].split(","))
                views.setdefault(row[0], []).append(
                    View(row[2], row[3], _array(row[4], (3,)), box, row[6], bytes(row[7]))  # type: ignore[arg-type]
                )
            entries = [
                MapEntry(
                    id=row[0],
                    label=row[1],
                    tags=tuple(t for t in row[2].split("\n") if t),
                    position=_array(row[3], (3,)),
                    rotation=_array(row[4], (3, 3)),
                    extent=_array(row[5], (3,)),
                    confidence=row[6],
                    observations=row[7],
                    first_seen=row[8],
                    last_seen=row[9],
                    camera=row[10],
                    version=row[11],
                    views=views.get(row[0], []),
                )
                for row in self.db.execute("SELECT * FROM objects ORDER BY rowid")
            ]
            return entries, int(meta["version"]), int(meta["next_id"])
        except (sqlite3.DatabaseError, KeyError, ValueError) as exc:
            raise self._refused(f"its contents do not read as a map ({exc})") from None

    def write(self, changed: Sequence[MapEntry], removed: Sequence[str], version: int, next_id: int) -> None:
        gone = [(i,) for i in {*removed, *(e.id for e in changed)}]
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM views WHERE object_id = ?", gone)
            self.db.executemany("DELETE FROM objects WHERE id = ?", [(i,) for i in removed])
            self.db.executemany(
                "INSERT OR REPLACE INTO objects VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        e.id,
                        e.label,
                        "\n".join(e.tags),
                        np.asarray(e.position, np.float64).tobytes(),
                        np.asarray(e.rotation, np.float64).tobytes(),
                        np.asarray(e.extent, np.float64).tobytes(),
                        float(e.confidence),
                        int(e.observations),
                        float(e.first_seen),
                        float(e.last_seen),
                        e.camera,
                        int(e.version),
                    )
                    for e in changed
                ],
            )
            self.db.executemany(
                "INSERT INTO views VALUES(?,?,?,?,?,?,?,?)",
                [
                    (
                        e.id,
                        rank,
                        v.camera,
                        float(v.stamp),
                        np.asarray(v.viewpoint, np.float64).tobytes(),
                        ",".join(str(int(b)) for b in v.box),
                        float(v.score),
                        v.crop,
                    )
                    for e in changed
                    for rank, v in enumerate(e.views)
                ],
            )
            self.db.executemany(
                "UPDATE meta SET value = ? WHERE key = ?",
                [(str(version), "version"), (str(next_id), "next_id")],
            )

    def close(self) -> None:
        self.db.close()


def open_store(backend: str, directory: str, name: str) -> MapStore:
    """The store for a ``backend`` name: sqlite (``directory``/``name``.sqlite) or memory."""
    if backend == "sqlite":
        return SqliteStore(directory, name)
    if backend == "memory":
        return MemoryStore()
    raise InvalidArgumentError(f"map storage backend {backend!r} is unknown; valid: sqlite, memory")
