"""Trials of the trace store as a LeRobot dataset (codebase v2.1 layout), for policy learning.

Each trial becomes one episode, its joint states resampled to ``fps`` (hold-last) from the first to the
last recorded state. Per frame: ``observation.state`` = the joint positions (Franka: 7 arm joints + 2
finger joints in metres); ``action`` = the joint positions of the next frame, i.e. an absolute
joint-position target 1/fps ahead (the last frame repeats its state); ``observation.images.scene`` = the
latest "scene camera" image at or before the frame (the earliest one for frames before it), stored as an
mp4 video per episode (MPEG-4 Part 2, OpenCV's always-available encoder) or, with ``video=False``, as the
recorded JPEG bytes in the Parquet rows (LeRobot's ``image`` feature: struct of bytes and path).
The task is the trial's instruction. meta/info.json carries a ``maestro`` block saying all this.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from maestro_agent.traces.export import LIST_HINT, _check_out, _database, _root, _staged, _trial
from maestro_tools.common.errors import InvalidArgumentError, NoDataError, UnavailableError
from maestro_tools.robots import get_robot, robot_names

log = logging.getLogger(__name__)

SCENE_LABEL = "scene camera"
IMAGE_KEY = "observation.images.scene"
CHUNKS_SIZE = 1000
DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
INDEX_COLUMNS = ("frame_index", "episode_index", "index", "task_index")


@dataclass
class EpisodeSource:
    """One episode to write: ``trial`` needs "id", "instruction" and "success"."""

    trial: dict[str, Any]
    times: np.ndarray  # (n,) unix times of the joint states
    states: np.ndarray  # (n, joints)
    images: list[tuple[float, Path]]  # scene camera images, by time


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UnavailableError("the LeRobot export needs pyarrow: pip install pyarrow") from None
    return pa, pq


def _source(
    db: sqlite3.Connection, root: Path, trial: dict[str, Any], joints: list[str]
) -> EpisodeSource | None:
    """The trial's states (``joints`` order, else the first row's; sets joints) and images; None: unusable."""
    rows = db.execute(
        "SELECT t, names, positions FROM robot_states WHERE trial_id = ? ORDER BY t, id", (trial["id"],)
    ).fetchall()
    if not rows:
        log.warning("skipping trial %s: it recorded no robot states (joint_states)", trial["id"])
        return None
    wanted = joints or json.loads(rows[0][1])
    orders: dict[str, list[int | None]] = {}
    states = []
    for _, names, positions in rows:
        if names not in orders:
            index = {name: i for i, name in enumerate(json.loads(names))}
            orders[names] = [index.get(joint) for joint in wanted]
        if None in orders[names]:
            log.warning("skipping trial %s: its joint states lack some of %s", trial["id"], wanted)
            return None
        values = json.loads(positions)
        states.append([values[i] for i in orders[names] if i is not None])
    images = [
        (t, root / path)
        for t, path in db.execute(
            "SELECT t, path FROM images WHERE trial_id = ? AND label = ? ORDER BY t, id",
            (trial["id"], SCENE_LABEL),
        )
        if (root / path).is_file()
    ]
    if not images:
        log.warning("skipping trial %s: it recorded no %r images", trial["id"], SCENE_LABEL)
        return None
    joints[:] = wanted
    times = np.asarray([row[0] for row in rows], np.float64)
    return EpisodeSource(trial, times, np.asarray(states, np.float64), images)


def _decode(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """The image as BGR uint8, resized to ``size`` (width, height) where it differs."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidArgumentError(f"{path} is not a readable image; the trace store is damaged")
    if size is not None and (image.shape[1], image.shape[0]) != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image


def _stats(values: np.ndarray) -> dict[str, list[Any]]:
    values = np.asarray(values, np.float64).reshape(len(values), -1)
    return {
        "min": values.min(0).tolist(),
        "max": values.max(0).tolist(),
        "mean": values.mean(0).tolist(),
        "std": values.std(0).tolist(),
        "count": [len(values)],
    }


def _image_stats(images: Iterable[tuple[np.ndarray, int]]) -> dict[str, list[Any]]:
    """Per-channel RGB stats (0..1, shaped (3, 1, 1)) over every pixel of (BGR image, frames showing it)."""
    low, high, total, squares, pixels = np.full(3, np.inf), np.full(3, -np.inf), np.zeros(3), np.zeros(3), 0
    count = 0
    for bgr, frames in images:
        count += frames
        rgb = bgr[..., ::-1].reshape(-1, 3).astype(np.float64) / 255.0
        low, high = np.minimum(low, rgb.min(0)), np.maximum(high, rgb.max(0))
        total, squares = total + frames * rgb.sum(0), squares + frames * (rgb**2).sum(0)
        pixels += frames * len(rgb)
    mean = total / pixels
    std = np.sqrt(np.maximum(squares / pixels - mean**2, 0.0))
    stats = {"min": low, "max": high, "mean": mean, "std": std}
    return {
        **{key: [[[float(x)]] for x in value] for key, value in stats.items()},
        "count": [count],
    }


def _write_episode(
    pa: Any, pq: Any, dataset: Path, source: EpisodeSource, episode: int, first_index: int, task: int,
    fps: int, size: tuple[int, int], video: bool,
) -> dict[str, Any]:  # fmt: skip
    """Write one episode's Parquet file (and video); returns its stats."""
    count = int(np.floor((source.times[-1] - source.times[0]) * fps + 1e-6)) + 1
    frame_t = source.times[0] + np.arange(count) / fps
    held = np.searchsorted(source.times, frame_t + 1e-6, side="right") - 1  # hold-last (1 µs rounding slack)
    state = source.states[held].astype(np.float32)
    action = np.concatenate([state[1:], state[-1:]])  # the next frame's joint positions
    shown = np.searchsorted([t for t, _ in source.images], frame_t, side="right") - 1
    shown = np.maximum(shown, 0)  # frames before the first image show the first image
    paths = [path for _, path in source.images]
    used, frames = np.unique(shown, return_counts=True)
    chunk = {"episode_chunk": episode // CHUNKS_SIZE, "episode_index": episode}
    joints = state.shape[1]
    columns: dict[str, Any] = {
        "observation.state": pa.FixedSizeListArray.from_arrays(pa.array(state.ravel()), joints),
        "action": pa.FixedSizeListArray.from_arrays(pa.array(action.ravel()), joints),
        "timestamp": pa.array((np.arange(count) / fps).astype(np.float32)),
        "frame_index": pa.array(np.arange(count, dtype=np.int64)),
        "episode_index": pa.array(np.full(count, episode, np.int64)),
        "index": pa.array(first_index + np.arange(count, dtype=np.int64)),
        "task_index": pa.array(np.full(count, task, np.int64)),
    }
    if video:
        file = dataset / VIDEO_PATH.format(video_key=IMAGE_KEY, **chunk)
        file.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(file), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not writer.isOpened():
            raise UnavailableError(
                "OpenCV cannot write mp4v videos here; export with images in Parquet instead"
            )

        def written() -> Iterator[tuple[np.ndarray, int]]:  # ``shown`` only grows: decode each image once
            for j, n in zip(used, frames, strict=True):
                image = _decode(paths[j], size)
                for _ in range(n):
                    writer.write(image)
                yield image, int(n)

        try:
            image_stats = _image_stats(written())
        finally:
            writer.release()
    else:
        image_stats = _image_stats((_decode(paths[j]), int(n)) for j, n in zip(used, frames, strict=True))
        blobs = {j: paths[j].read_bytes() for j in used}
        columns[IMAGE_KEY] = pa.array(
            [{"bytes": blobs[j], "path": paths[j].name} for j in shown],
            pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
        )
    file = dataset / DATA_PATH.format(**chunk)
    file.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), file)
    stats = {"observation.state": _stats(state), "action": _stats(action)}
    stats[IMAGE_KEY] = image_stats
    stats.update({name: _stats(columns[name].to_numpy()) for name in ("timestamp", *INDEX_COLUMNS)})
    return stats


def export_lerobot(
    store_root: Path | str,
    out_dir: Path | str,
    trial_ids: Sequence[str] | None = None,
    fps: int = 10,
    video: bool = True,
) -> Path:
    """Write trials (default: every successful one) as a LeRobot dataset at ``out_dir``; returns it."""
    _pyarrow()
    if not 1 <= fps <= 1000:
        raise InvalidArgumentError(f"fps must be between 1 and 1000, not {fps}")
    root, out = _root(store_root), _check_out(out_dir)
    joints: list[str] = []
    with _database(root) as db:
        if isinstance(trial_ids, str):
            trial_ids = [trial_ids]
        if trial_ids:
            trials = [_trial(db, root, trial_id) for trial_id in dict.fromkeys(trial_ids)]
        else:
            cursor = db.execute("SELECT * FROM trials WHERE success = 1 ORDER BY started, id")
            trials = [dict(zip([c[0] for c in cursor.description], r, strict=True)) for r in cursor]
            if not trials:
                raise NoDataError(
                    f"{root} has no successful trials to export; pass --trial ID to export others "
                    f"({LIST_HINT.format(root=root)})"
                )
        sources = [s for s in (_source(db, root, trial, joints) for trial in trials) if s is not None]
    if not sources:
        raise NoDataError(f"none of the {len(trials)} trial(s) has robot states and {SCENE_LABEL!r} images")
    return write_dataset(out, sources, joints, fps, video, str(root))


def write_dataset(
    out_dir: Path | str,
    sources: Sequence[EpisodeSource],
    joints: list[str],
    fps: int = 10,
    video: bool = True,
    origin: str = "",
    notes: dict[str, str] | None = None,
) -> Path:
    """Write ``sources`` (joint states in ``joints`` order, scene images) as a LeRobot dataset at
    ``out_dir``; ``origin`` and ``notes`` go into info.json's ``maestro`` block. Returns the folder."""
    pa, pq = _pyarrow()
    out = _check_out(out_dir)
    if not sources:
        raise NoDataError("no episodes to write")
    first = _decode(sources[0].images[0][1])
    size = (first.shape[1], first.shape[0])
    tasks = list(dict.fromkeys(source.trial["instruction"] for source in sources))
    episodes, all_stats, index = [], [], 0
    with _staged(out) as dataset:
        (dataset / "meta").mkdir(parents=True)
        for episode, source in enumerate(sources):
            task = tasks.index(source.trial["instruction"])
            stats = _write_episode(pa, pq, dataset, source, episode, index, task, fps, size, video)
            length = stats["frame_index"]["count"][0]
            all_stats.append({"episode_index": episode, "stats": stats})
            episodes.append(
                {"episode_index": episode, "tasks": [tasks[task]], "length": length,
                 "trial_id": source.trial["id"], "success": bool(source.trial["success"])}
            )  # fmt: skip
            index += length
        info = _info(joints, size, fps, video, len(tasks), episodes, origin)
        info["maestro"].update(notes or {})
        (dataset / "meta" / "info.json").write_text(json.dumps(info, indent=4) + "\n")
        for name, lines in (
            ("episodes", episodes),
            ("tasks", [{"task_index": i, "task": task} for i, task in enumerate(tasks)]),
            ("episodes_stats", all_stats),
        ):
            (dataset / "meta" / f"{name}.jsonl").write_text(
                "".join(json.dumps(line) + "\n" for line in lines)
            )
    return out


def _robot_type(joints: list[str]) -> str:
    """The registered robot profile whose arm and gripper joints these are, else "unknown"."""
    for name in robot_names():
        own = get_robot(name).joint_names()
        if set(joints) == {*own.arm, *own.fingers}:
            return name
    return "unknown"


def _info(
    joints: list[str], size: tuple[int, int], fps: int, video: bool, tasks: int,
    episodes: list[dict[str, Any]], origin: str,
) -> dict[str, Any]:  # fmt: skip
    """meta/info.json (LeRobot codebase v2.1), with a ``maestro`` block documenting the choices."""
    image: dict[str, Any] = {
        "dtype": "video" if video else "image",
        "shape": [size[1], size[0], 3],
        "names": ["height", "width", "channels"],
    }
    if video:
        image["info"] = {
            "video.fps": float(fps), "video.height": size[1], "video.width": size[0], "video.channels": 3,
            "video.codec": "mpeg4", "video.pix_fmt": "yuv420p", "video.is_depth_map": False,
            "has_audio": False,
        }  # fmt: skip
    scalar = {"shape": [1], "names": None}
    stored = "one mp4 per episode (MPEG-4 Part 2)" if video else "the recorded JPEG bytes in the Parquet rows"
    return {
        "codebase_version": "v2.1",
        "robot_type": _robot_type(joints),
        "total_episodes": len(episodes),
        "total_frames": sum(episode["length"] for episode in episodes),
        "total_tasks": tasks,
        "total_videos": len(episodes) if video else 0,
        "total_chunks": (len(episodes) - 1) // CHUNKS_SIZE + 1,
        "chunks_size": CHUNKS_SIZE,
        "fps": fps,
        "splits": {"train": f"0:{len(episodes)}"},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if video else None,
        "features": {
            "observation.state": {"dtype": "float32", "shape": [len(joints)], "names": joints},
            "action": {"dtype": "float32", "shape": [len(joints)], "names": joints},
            IMAGE_KEY: image,
            "timestamp": {"dtype": "float32", **scalar},
            **{name: {"dtype": "int64", **scalar} for name in INDEX_COLUMNS},
        },
        "maestro": {
            "source": origin,
            "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "observation.state": "joint positions resampled to fps from the recorded states (hold-last)",
            "action": "the joint positions of the next frame (1/fps ahead); the last frame repeats its state",
            IMAGE_KEY: f"the latest {SCENE_LABEL!r} image at or before the frame (or the first); {stored}",
        },
    }
