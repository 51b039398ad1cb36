"""Amplified episodes as a LeRobot v2.1 dataset (the trace store's writer), and a read-back verification.

``export`` feeds ``amplify``'s episode folders to ``traces.lerobot_export.write_dataset``: joint states at
the episode's fps, the scene camera frames (hold-last between them), the scene's instruction as the task.
``verify`` reads a dataset back and checks every episode: its Parquet file and columns, the row count
against meta/episodes.jsonl, the index columns, timestamps at 1/fps, the stats in episodes_stats.jsonl
against the data, and its video (present, as many frames as rows, the declared size) or its images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from maestro_agent.traces.lerobot_export import (
    DATA_PATH,
    IMAGE_KEY,
    INDEX_COLUMNS,
    VIDEO_PATH,
    EpisodeSource,
    _pyarrow,
    write_dataset,
)
from maestro_tools.common.errors import NoDataError, NotFoundError
from maestro_tools.robots import get_robot

STATS_TOLERANCE = 1e-4  # float32 data against float64 stats


def load_episodes(folder: Path | str) -> list[EpisodeSource]:
    """``amplify``'s kept episodes (``folder/episodes/*/episode.npz``) as sources for the writer."""
    root = Path(folder)
    files = sorted(root.glob("episodes/*/episode.npz"))
    if not files:
        raise NotFoundError(f"no amplified episodes under {root}/episodes; run `maestro data amplify` first")
    sources = []
    for file in files:
        with np.load(file) as data:
            meta = json.loads(str(data["meta"]))
            times, states = data["times"], data["states"]
        images = [
            (float(t), file.parent / "frames" / name)
            for t, name in zip(meta["frame_times"], meta["frames"], strict=True)
        ]
        if not images:
            raise NoDataError(f"{file.parent} has no camera frames (amplified with --no-render)")
        trial = {
            "id": f"{file.parent.name} (warped from {meta['source']})",
            "instruction": meta["instruction"],
            "success": True,
        }
        sources.append(EpisodeSource(trial, np.asarray(times), np.asarray(states), images))
    return sources


def export(
    episodes: Path | str, out: Path | str, fps: int = 10, video: bool = True, robot: str = "franka"
) -> Path:
    names = get_robot(robot).joint_names()
    notes = {
        "observation.state": "joint positions of the simulated replay of a warped demonstration, at fps",
        "episodes": "demonstrations warped to new scenes (maestro data amplify); only replays whose task "
        "progress reached 100 were kept",
    }
    return write_dataset(
        out,
        load_episodes(episodes),
        [*names.arm, *names.fingers],
        fps,
        video,
        str(Path(episodes).resolve()),
        notes,
    )


@dataclass
class Verification:
    episodes: int = 0
    frames: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.episodes > 0

    def summary(self) -> str:
        verdict = "OK" if self.ok else f"FAILED ({len(self.problems)} problems)"
        lines = [f"{verdict}: {self.episodes} episodes, {self.frames} frames checked", *self.problems[:50]]
        return "\n".join(lines)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _close(expected: Any, actual: Any) -> bool:
    a, b = np.asarray(expected, np.float64), np.asarray(actual, np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=STATS_TOLERANCE, atol=STATS_TOLERANCE))


def _video_frames(path: Path) -> tuple[int, tuple[int, int]]:
    capture = cv2.VideoCapture(str(path))
    count, size = 0, (0, 0)
    while True:
        ok, image = capture.read()
        if not ok:
            break
        count, size = count + 1, (image.shape[1], image.shape[0])
    capture.release()
    return count, size


def verify(dataset: Path | str) -> Verification:
    """Read ``dataset`` back and check every episode (see the module docstring)."""
    _, pq = _pyarrow()
    root, report = Path(dataset), Verification()
    problems = report.problems
    try:
        info = json.loads((root / "meta" / "info.json").read_text())
        episodes = _jsonl(root / "meta" / "episodes.jsonl")
        tasks = _jsonl(root / "meta" / "tasks.jsonl")
        stats = {
            line["episode_index"]: line["stats"] for line in _jsonl(root / "meta" / "episodes_stats.jsonl")
        }
    except (OSError, ValueError, KeyError) as exc:
        problems.append(f"meta unreadable: {exc}")
        return report
    if info.get("codebase_version") != "v2.1":
        problems.append(f"codebase_version {info.get('codebase_version')!r}, expected 'v2.1'")
    features, fps = info["features"], info["fps"]
    video = features[IMAGE_KEY]["dtype"] == "video"
    columns = {k for k in features if not (video and k == IMAGE_KEY)}
    if info["total_episodes"] != len(episodes) or len(stats) != len(episodes):
        problems.append(
            f"info says {info['total_episodes']} episodes; episodes.jsonl has {len(episodes)}, "
            f"episodes_stats.jsonl {len(stats)}"
        )
    index = 0
    for episode in episodes:
        e, length = episode["episode_index"], episode["length"]
        where = f"episode {e}"
        chunk = {"episode_chunk": e // info["chunks_size"], "episode_index": e}
        file = root / DATA_PATH.format(**chunk)
        if not file.is_file():
            problems.append(f"{where}: no {file.relative_to(root)}")
            continue
        table = pq.read_table(file)
        if set(table.column_names) != columns:
            problems.append(f"{where}: columns {sorted(table.column_names)}, expected {sorted(columns)}")
            continue
        data = {name: table.column(name).to_pylist() for name in table.column_names if name != IMAGE_KEY}
        rows = table.num_rows
        checks = {
            "rows = length": rows == length,
            "frame_index 0..n-1": data["frame_index"] == list(range(rows)),
            "episode_index": set(data["episode_index"]) == {e},
            "global index": data["index"] == list(range(index, index + rows)),
            "timestamps at 1/fps": _close(np.arange(rows) / fps, data["timestamp"]),
            "task_index": all(0 <= t < len(tasks) for t in data["task_index"]),
        }
        problems.extend(f"{where}: {name} fails" for name, ok in checks.items() if not ok)
        for name in ("observation.state", "action", "timestamp", *INDEX_COLUMNS):
            values = np.asarray(data[name], np.float64).reshape(rows, -1)
            expected = stats.get(e, {}).get(name, {})
            for key, actual in (
                ("min", values.min(0)),
                ("max", values.max(0)),
                ("mean", values.mean(0)),
                ("std", values.std(0)),
                ("count", [rows]),
            ):
                if not _close(expected.get(key), actual):
                    problems.append(f"{where}: stats {name}.{key} do not match the data")
        if video:
            path = root / VIDEO_PATH.format(video_key=IMAGE_KEY, **chunk)
            count, size = _video_frames(path) if path.is_file() else (-1, (0, 0))
            height, width = features[IMAGE_KEY]["shape"][:2]
            if count != rows or size != (width, height):
                problems.append(
                    f"{where}: video {path.name} has {count} frames of {size}, expected {rows} "
                    f"of {(width, height)}"
                )
        else:
            images = table.column(IMAGE_KEY).to_pylist()
            bad = sum(
                cv2.imdecode(np.frombuffer(i["bytes"], np.uint8), cv2.IMREAD_COLOR) is None for i in images
            )
            if bad:
                problems.append(f"{where}: {bad} undecodable images")
        index += rows
        report.episodes += 1
        report.frames += rows
    if info["total_frames"] != index:
        problems.append(f"info says {info['total_frames']} frames; the episodes hold {index}")
    return report
