"""Semantic map benchmark: update rate, query latency, memory per object.

    .venv/bin/python bench/map_bench.py            # writes bench/results/map_bench.json

Wall-clock times (mean, median, p95) and the process CPU time per call (steadier on a busy machine).

1. Updates: one DetectionFrame as the detector publishes it (640 x 480 depth, colour and 10 detections
   with boxes and 3D poses, a table and objects in view), turned into an Observation (depth decoded,
   crops cut and PNG-encoded) and integrated (merge, negative evidence, one SQLite transaction), the
   way the mapper node handles each message. Also the integration alone, and with the in-memory store.
2. Queries on a map of 1,000 objects (50 labels): by label, near a point, inside a box, all, the
   ``describe()`` text, and the MapObject messages of a 50-object answer.
3. Memory: Python heap per object (tracemalloc, one view with a crop each), SQLite bytes per object.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from std_msgs.msg import Header

from maestro_msgs.msg import Detection, DetectionFrame
from maestro_tools.common.conversions import (
    intrinsics_to_camera_info,
    matrix_to_pose,
    numpy_to_image,
    seconds_to_time,
    vector3,
)
from maestro_tools.mapping import messages
from maestro_tools.mapping.entries import Observation, Sighting, View, describe
from maestro_tools.mapping.semantic_map import SemanticMap
from maestro_tools.mapping.store import MapStore, MemoryStore, SqliteStore

WIDTH, HEIGHT = 640, 480
K = np.array([[554.0, 0.0, 320.0], [0.0, 554.0, 240.0], [0.0, 0.0, 1.0]])
RESULTS = Path(__file__).resolve().parent / "results" / "map_bench.json"


def camera_pose() -> np.ndarray:
    """A scene camera 0.8 m above the table, looking straight down."""
    pose = np.eye(4)
    pose[:3, :3] = np.diag([1.0, -1.0, -1.0])
    pose[:3, 3] = [0.45, 0.0, 0.8]
    return pose


def frame_message(stamp: float, rng: np.random.Generator) -> DetectionFrame:
    """10 detections of cubes and balls on a table, with the frame's depth, colour and intrinsics."""
    depth = np.full((HEIGHT, WIDTH), 0.8, dtype=np.float32)
    rgb = rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    header = Header(frame_id="base", stamp=seconds_to_time(stamp))
    image_header = Header(frame_id="scene_camera_optical_frame", stamp=header.stamp)
    detections = []
    for k in range(10):
        x, y = 0.3 + 0.06 * (k % 5) + rng.normal(0, 0.002), -0.1 + 0.15 * (k // 5) + rng.normal(0, 0.002)
        pose = np.eye(4)
        pose[:3, 3] = [x, y, 0.025]
        u, v = int(554 * (x - 0.45) / 0.775 + 320), int(-554 * y / 0.775 + 240)
        depth[v - 18 : v + 18, u - 18 : u + 18] = 0.775
        detections.append(
            Detection(
                header=header,
                label=f"{['red', 'blue'][k % 2]} cube {k}",
                score=0.9,
                camera="scene",
                has_3d=True,
                pose=matrix_to_pose(pose),
                extent=vector3([0.05, 0.05, 0.05]),
            )
        )
        detections[-1].box.x_offset, detections[-1].box.y_offset = u - 18, v - 18
        detections[-1].box.width = detections[-1].box.height = 36
    return DetectionFrame(
        header=header,
        camera="scene",
        labels=[],
        detections=detections,
        camera_pose=matrix_to_pose(camera_pose()),
        depth=numpy_to_image(depth, "32FC1", image_header),
        camera_info=intrinsics_to_camera_info(K, WIDTH, HEIGHT, image_header),
        image=numpy_to_image(rgb, "rgb8", image_header),
    )


def timed(function: Callable[[], object], repeat: int) -> dict[str, float]:
    times, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {
        "cpu_ms": statistics.fmean(cpu) * 1e3,  # the process CPU: steadier than wall time on a busy machine
        "mean_ms": statistics.fmean(times) * 1e3,
        "median_ms": statistics.median(times) * 1e3,
        "p95_ms": sorted(times)[int(0.95 * len(times)) - 1] * 1e3,
    }


def bench_updates(folder: Path, repeat: int = 200) -> dict[str, object]:
    rng = np.random.default_rng(0)
    frames = [frame_message(1.0 + k, rng) for k in range(repeat)]
    out: dict[str, object] = {}
    for name, store in (("sqlite", SqliteStore(folder, "updates")), ("memory", MemoryStore())):
        smap = SemanticMap(store)
        queue = iter(frames)
        full = timed(
            lambda m=smap, q=queue: m.integrate(messages.observation(next(q), np.eye(4), camera_pose())),
            repeat,
        )
        observations = [messages.observation(f, np.eye(4), camera_pose()) for f in frames]
        queue2 = iter(observations)
        core = timed(lambda m=smap, q=queue2: m.integrate(next(q)), repeat)
        out[name] = {
            "message_to_map_per_s": 1e3 / full["mean_ms"],
            "message_to_map": full,
            "integrate_only_per_s": 1e3 / core["mean_ms"],
            "integrate_only": core,
            "objects": len(smap),
        }
        smap.close()
    return out


def populated(store: MapStore, count: int = 1000, crop: bytes = b"") -> SemanticMap:
    rng = np.random.default_rng(1)
    smap = SemanticMap(store)
    labels = [f"{c} {s}" for c in ("red", "blue", "green", "yellow", "white") for s in range(10)]
    for start in range(0, count, 10):
        sightings = [
            Sighting(
                f"{labels[(start + k) % 50]} thing",
                0.9,
                np.array([rng.uniform(-5, 5), rng.uniform(-5, 5), rng.uniform(0, 1)]),
                np.eye(3),
                np.full(3, 0.05),
                (0, 0, 40, 40),
                crop,
            )
            for k in range(10)
        ]
        smap.integrate(Observation("scene", float(start), (), sightings, None))
    return smap


def bench_queries(repeat: int = 300) -> dict[str, object]:
    smap = populated(MemoryStore())
    assert len(smap) == 1000, len(smap)
    center = np.array([0.0, 0.0, 0.5])
    box = (np.array([-1.0, -1.0, 0.0]), np.array([1.0, 1.0, 1.0]))
    everything = smap.query()
    some = everything[:50]
    return {
        "objects": len(smap),
        "by_label": timed(lambda: smap.query("red 3"), repeat),
        "by_label_found": len(smap.query("red 3")),
        "near_point_1m": timed(lambda: smap.query(center=center, radius=1.0), repeat),
        "in_box": timed(lambda: smap.query(box=box), repeat),
        "all": timed(smap.query, repeat),
        "describe_all": timed(lambda: describe(everything, 1000.0), repeat),
        "to_messages_50": timed(lambda: [messages.to_map_object(e, "world") for e in some], repeat),
    }


def bench_memory(folder: Path) -> dict[str, float]:
    crop = messages.crop_png(
        np.random.default_rng(2).integers(0, 255, (40, 40, 3), dtype=np.uint8), (0, 0, 40, 40)
    )
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    smap = populated(MemoryStore(), 1000, crop)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    heap = sum(s.size_diff for s in after.compare_to(before, "filename"))
    store = SqliteStore(folder, "memory_bench")
    entries = smap.query()
    store.write(entries, [], 1, 1001)
    store.close()
    size = (folder / "memory_bench.sqlite").stat().st_size
    wal = folder / "memory_bench.sqlite-wal"
    size += wal.stat().st_size if wal.exists() else 0
    assert all(len(e.views) == 1 and isinstance(e.views[0], View) for e in entries)
    return {
        "heap_bytes_per_object": heap / len(smap),
        "sqlite_bytes_per_object": size / len(smap),
        "crop_png_bytes": len(crop),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results = {
            "updates": bench_updates(folder),
            "queries": bench_queries(),
            "memory": bench_memory(folder),
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    updates, queries, memory = results["updates"], results["queries"], results["memory"]
    for store in ("sqlite", "memory"):
        full, core = updates[store]["message_to_map"], updates[store]["integrate_only"]
        print(
            f"update, {store} store: DetectionFrame (640x480, 10 detections) -> map "
            f"{1e3 / full['mean_ms']:.0f}/s ({full['mean_ms']:.2f} ms wall, {full['cpu_ms']:.2f} ms CPU); "
            f"integration alone {1e3 / core['mean_ms']:.0f}/s ({core['mean_ms']:.2f} ms wall, "
            f"{core['cpu_ms']:.2f} ms CPU)"
        )
    print(f"queries on {queries['objects']} objects (wall mean / p95, CPU mean; ms):")
    for key in ("by_label", "near_point_1m", "in_box", "all", "describe_all", "to_messages_50"):
        q = queries[key]
        print(f"  {key:15s} {q['mean_ms']:.3f} / {q['p95_ms']:.3f}, {q['cpu_ms']:.3f}")
    print(
        f"memory per object: {memory['heap_bytes_per_object']:.0f} B Python heap, "
        f"{memory['sqlite_bytes_per_object']:.0f} B SQLite (one view each, its crop "
        f"{memory['crop_png_bytes']} B of PNG)"
    )
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
