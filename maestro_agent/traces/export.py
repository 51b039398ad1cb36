"""Exports from the trace store: one trial as a rosbag2 (MCAP); trials as a LeRobot dataset.

``export_rosbag`` writes ``/maestro/joint_states`` (sensor_msgs/JointState, the recorded rows),
``/maestro/vlm_images/compressed`` (sensor_msgs/CompressedImage: the JPEG files as recorded, frame_id =
the image label) and ``/maestro/trace`` (maestro_msgs/TraceEvent as the agent publishes them live, tool
calls as TOOL_CALL events with their ToolCall, images as IMAGE events), each message stamped and logged at
its recorded unix time. ``export_lerobot`` lives in lerobot_export.py (importable from here too).
Exports build in a hidden sibling folder and move into place, so a failed one leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from maestro_agent.traces.store import open_database
from maestro_tools.common.errors import InvalidArgumentError, NotFoundError, UnavailableError

log = logging.getLogger(__name__)

JOINT_TOPIC = "/maestro/joint_states"
IMAGE_TOPIC = "/maestro/vlm_images/compressed"
TRACE_TOPIC = "/maestro/trace"
# events.kind -> TraceEvent.kind (as the agent publishes them live); other kinds (phase, stdout) stay out.
KINDS = {
    "plan": 0,
    "code": 1,
    "line": 2,
    "tool_call": 3,
    "image": 4,
    "judgement": 5,
    "progress": 6,
    "replan": 7,
    "reflection": 8,
    "tokens": 9,
    "outcome": 10,
}
TEXT_FIELDS = ("code", "reasoning", "text", "summary", "reason", "label")
LIST_HINT = "list them with `maestro dashboard --store {root}` or `maestro analytics --store {root}`"


# -- shared -----------------------------------------------------------------------------------------
def _root(store_root: Path | str) -> Path:
    root = Path(store_root).expanduser()
    return root.parent if root.name == "traces.db" else root


@contextmanager
def _database(root: Path) -> Iterator[sqlite3.Connection]:
    """The store's database; a malformed one (tables missing, not a database) is a clear error."""
    db = open_database(root / "traces.db")
    try:
        yield db
    except sqlite3.DatabaseError as exc:
        raise InvalidArgumentError(
            f"{root / 'traces.db'} is not a readable Maestro trace store ({exc})"
        ) from None
    finally:
        db.close()


def _trial(db: sqlite3.Connection, root: Path, trial_id: str) -> dict[str, Any]:
    cursor = db.execute("SELECT * FROM trials WHERE id = ?", (trial_id,))
    row = cursor.fetchone()
    if row is None:
        recent = [r[0] for r in db.execute("SELECT id FROM trials ORDER BY started DESC LIMIT 5")]
        known = f"the latest are {', '.join(recent)}" if recent else "the store has no trials"
        raise NotFoundError(f"no trial {trial_id!r} in {root}; {known}; {LIST_HINT.format(root=root)}")
    return dict(zip([c[0] for c in cursor.description], row, strict=True))


def _check_out(out_dir: Path | str) -> Path:
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidArgumentError(f"{out} already exists and is not an empty folder; pass another --out")
    return out


@contextmanager
def _staged(out: Path) -> Iterator[Path]:
    """A not-yet-existing path named like ``out`` in a hidden sibling folder, moved to ``out`` on success."""
    stage = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        yield stage / out.name
        if out.exists():
            out.rmdir()
        (stage / out.name).rename(out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# -- rosbag2 ----------------------------------------------------------------------------------------
def _msg_dir() -> Path:
    """maestro_msgs' .msg files: the installed share folder (ament prefixes, this venv) or the source tree."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    candidates = [Path(p) / "share" / "maestro_msgs" / "msg" for p in prefixes]
    candidates.append(Path(__file__).resolve().parents[2] / "maestro_msgs" / "msg")
    for folder in candidates:
        if (folder / "TraceEvent.msg").is_file() and (folder / "ToolCall.msg").is_file():
            return folder
    raise UnavailableError(f"maestro_msgs' TraceEvent.msg not found in {', '.join(map(str, candidates))}")


def typestore() -> Any:
    """A rosbags type store (ROS 2 Jazzy) with maestro_msgs/TraceEvent and ToolCall registered."""
    try:
        from rosbags.typesys import Stores, get_types_from_msg, get_typestore
    except ImportError:
        raise UnavailableError("the rosbag export needs rosbags: pip install 'rosbags>=0.11'") from None
    store = get_typestore(Stores.ROS2_JAZZY)
    folder, types = _msg_dir(), {}
    for name in ("ToolCall", "TraceEvent"):
        types.update(get_types_from_msg((folder / f"{name}.msg").read_text(), f"maestro_msgs/msg/{name}"))
    store.register(types)
    return store


def _header(types: Any, t: float, frame_id: str = "") -> Any:
    sec, nanosec = divmod(round(t * 1e9), 10**9)
    return types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame_id
    )


def _tool_call(types: Any, trial_id: str, row: dict[str, Any] | None) -> Any:
    row = row or {}
    return types["maestro_msgs/msg/ToolCall"](
        header=_header(types, float(row.get("t", 0.0))),
        trial_id=trial_id if row else "",
        substep=max(0, int(row.get("substep", 0))),
        line=max(0, int(row.get("line", 0))),
        module=str(row.get("module", "")),
        function=str(row.get("function", "")),
        category=str(row.get("category", "")),
        arguments=str(row.get("arguments", "")),
        duration=float(row.get("duration", 0.0)),
        success=bool(row.get("success", False)),
        error_code=min(max(0, int(row.get("error_code", 0))), 65535),
        message=str(row.get("message", "")),
    )


def _trace_event(types: Any, trial_id: str, t: float, kind: str, subtask: int, row: dict[str, Any]) -> Any:
    """A TraceEvent as the agent publishes it live: text from the first set field, tool calls embedded."""
    data = row.get("data", {})
    text = next((str(data[k]) for k in TEXT_FIELDS if data.get(k)), "")
    progress = data.get("progress")
    return types["maestro_msgs/msg/TraceEvent"](
        header=_header(types, t),
        trial_id=trial_id,
        kind=KINDS[kind],
        substep=max(0, int(row.get("substep", 0))),
        current_subtask=max(0, subtask),
        line=max(0, int(row.get("line", 0))),
        text=text if kind != "image" else str(row.get("label", "")),
        plan=[str(p) for p in data.get("plan", [])],
        tool_call=_tool_call(types, trial_id, row if kind == "tool_call" else None),
        progress=float(progress) if isinstance(progress, int | float) else -1.0,
        input_tokens=max(0, int(data.get("input_tokens", 0))),
        output_tokens=max(0, int(data.get("output_tokens", 0))),
    )


def _rows(db: sqlite3.Connection, table: str, trial_id: str) -> list[dict[str, Any]]:
    cursor = db.execute(f"SELECT * FROM {table} WHERE trial_id = ? ORDER BY t, id", (trial_id,))
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def export_rosbag(store_root: Path | str, trial_id: str, out_dir: Path | str) -> Path:
    """Write trial ``trial_id`` as a rosbag2 (MCAP storage) folder at ``out_dir``; returns that folder."""
    store = typestore()
    try:
        from rosbags.rosbag2 import StoragePlugin, Writer  # StoragePlugin.MCAP: rosbags 0.11
    except ImportError:
        raise UnavailableError("this rosbags cannot write MCAP; pip install 'rosbags>=0.11'") from None
    root, out = _root(store_root), _check_out(out_dir)
    with _database(root) as db:
        _trial(db, root, trial_id)
        states, images = _rows(db, "robot_states", trial_id), _rows(db, "images", trial_id)
        events, calls = _rows(db, "events", trial_id), _rows(db, "tool_calls", trial_id)
    for event in events:
        event["data"] = json.loads(event["data"] or "{}")
    timeline = sorted(
        [(r["t"], 0, "state", r) for r in states]
        + [(r["t"], 1, "image", r) for r in images]
        # "image" events only note that the sandbox showed an image; the pixels are the images rows.
        + [
            (r["t"], 2, r["kind"], r)
            for r in events
            if r["kind"] in (*KINDS, "phase") and r["kind"] != "image"
        ]
        + [(r["t"], 2, "tool_call", r) for r in calls],
        key=lambda item: item[:2],
    )
    types, subtask = store.types, 0
    with _staged(out) as path:
        writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
        with writer:
            topics = {
                "state": (JOINT_TOPIC, "sensor_msgs/msg/JointState"),
                "image": (IMAGE_TOPIC, "sensor_msgs/msg/CompressedImage"),
                "trace": (TRACE_TOPIC, "maestro_msgs/msg/TraceEvent"),
            }
            connections = {
                key: writer.add_connection(topic, msgtype, typestore=store)
                for key, (topic, msgtype) in topics.items()
            }

            def write(key: str, t: float, message: Any) -> None:
                raw = store.serialize_cdr(message, topics[key][1])
                writer.write(connections[key], round(t * 1e9), raw)

            for t, _, kind, row in timeline:
                if kind == "state":
                    names, positions = json.loads(row["names"]), json.loads(row["positions"])
                    empty = np.zeros(0, np.float64)
                    message = types["sensor_msgs/msg/JointState"](
                        header=_header(types, t), name=names, position=np.asarray(positions, np.float64),
                        velocity=empty, effort=empty,
                    )  # fmt: skip
                    write("state", t, message)
                elif kind == "image":
                    file = root / row["path"]
                    if not file.is_file():
                        log.warning("trial %s: image %s is missing; left out of the bag", trial_id, file)
                        continue
                    data = np.frombuffer(file.read_bytes(), np.uint8)
                    image = types["sensor_msgs/msg/CompressedImage"](
                        header=_header(types, t, row["label"]), format="jpeg", data=data
                    )
                    write("image", t, image)
                    write("trace", t, _trace_event(types, trial_id, t, "image", subtask, row))
                elif kind == "phase":
                    subtask = int(row["subtask"])
                else:
                    subtask = int(row.get("subtask", subtask))
                    write("trace", t, _trace_event(types, trial_id, t, kind, subtask, row))
    return out


def __getattr__(name: str) -> Any:
    """``export_lerobot`` on first use (lerobot_export imports this module's helpers)."""
    if name == "export_lerobot":
        from maestro_agent.traces.lerobot_export import export_lerobot

        return export_lerobot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
