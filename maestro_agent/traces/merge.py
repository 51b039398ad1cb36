"""Merge trace store shards (e.g. one per remote sweep worker) into one store.

Each shard's trials are copied whole: their ``trials`` row, the rows of every per-trial table (new row
ids; a trial merged again replaces its earlier copy) and their folder of images and video frames, whose
paths are relative to the store root and so stay valid. Only trial ids connect rows, and they are unique
across stores, so shards merge in any order.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from maestro_agent.traces.store import has_table, open_database

TRIAL_TABLES = ("events", "tool_calls", "robot_states", "images", "video_frames")


def _columns(db: object, schema: str, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA {schema}.table_info({table})")]  # type: ignore[attr-defined]


def merge_stores(target: Path | str, shards: Iterable[Path | str]) -> int:
    """Copy every trial of each shard folder into the store folder ``target`` (created if need be);
    returns how many trials were copied. A folder without ``traces.db`` is skipped."""
    root = Path(target).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    merged = 0
    with contextlib.closing(open_database(root / "traces.db", create=True)) as db:
        for shard in map(Path, shards):
            source = shard / "traces.db"
            if not source.is_file() or source.resolve() == (root / "traces.db").resolve():
                continue
            open_database(source).close()  # refuses a file that is not a trace store of this schema
            db.execute("ATTACH DATABASE ? AS shard", (str(source),))
            try:
                with db:
                    ids = [row[0] for row in db.execute("SELECT id FROM shard.trials")]
                    shared = [
                        c for c in _columns(db, "shard", "trials") if c in _columns(db, "main", "trials")
                    ]
                    names = ", ".join(shared)
                    db.execute(
                        f"INSERT OR REPLACE INTO main.trials ({names}) SELECT {names} FROM shard.trials"
                    )
                    for table in TRIAL_TABLES:
                        if (
                            not has_table(db, table)
                            or not db.execute(
                                "SELECT 1 FROM shard.sqlite_master WHERE type = 'table' AND name = ?",
                                (table,),
                            ).fetchone()
                        ):
                            continue
                        mine = set(_columns(db, "main", table))
                        cols = ", ".join(c for c in _columns(db, "shard", table) if c != "id" and c in mine)
                        db.execute(
                            f"DELETE FROM main.{table} WHERE trial_id IN (SELECT id FROM shard.trials)"
                        )
                        db.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM shard.{table}")
            finally:
                db.execute("DETACH DATABASE shard")
            for trial_id in ids:
                folder = shard / re.sub(r"[^\w-]", "_", trial_id)
                if folder.is_dir():
                    shutil.copytree(folder, root / folder.name, dirs_exist_ok=True)
            merged += len(ids)
    return merged
