"""Trace store benchmark: recording must never slow the agent down (``TraceStore.record`` is an enqueue).

    .venv/bin/python bench/trace_bench.py [--calls 10000] [--store DIR]

Records ``--calls`` tool calls through ``TraceStore.tool_call`` from one thread and reports the calls/s
accepted (the agent's cost), the per-call enqueue latency, and the time until the writer thread has
committed them all (flush). Meanwhile a reader polls the store as the dashboard does, to show reads do
not block the writer. Then times the analytics and the dashboard's trial timeline over the result.
Writes bench/results/trace_bench.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from maestro_agent.traces import analytics
from maestro_agent.traces.dashboard import Dashboard
from maestro_agent.traces.store import TraceStore

RESULTS = Path(__file__).resolve().parent / "results"
MODULES = [
    ("perception", "detect", "perception"),
    ("geometry", "pose_between", "geometry"),
    ("grasping", "pick", "grasping"),
    ("robot", "move_gripper_to", "control"),
    ("vla", "run_policy", "vla"),
]


def record(root: Path, calls: int) -> dict[str, float]:
    store = TraceStore(root)
    store.start_trial("bench", "benchmark the trace store", "bench")
    reads, stop = [0], threading.Event()

    def reader() -> None:  # the dashboard's pattern: a short-lived connection per request
        dashboard = Dashboard(root)
        while not stop.is_set():
            try:
                dashboard.trials()
                reads[0] += 1
            except Exception:  # the first commit may not have landed yet
                pass
            time.sleep(0.01)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    latencies = []
    started = time.perf_counter()
    for n in range(calls):
        module, function, category = MODULES[n % len(MODULES)]
        call = {"module": module, "function": function, "category": category, "line": 1 + n % 30}
        call.update(arguments=f"'object {n}'", duration=0.01, success=n % 40 != 0, depth=int(n % 3 == 2))
        before = time.perf_counter()
        store.tool_call("bench", 1 + n // 100, call)
        latencies.append(time.perf_counter() - before)
    accepted = time.perf_counter() - started
    store.flush(timeout=120)
    flushed = time.perf_counter() - started
    stop.set()
    thread.join()
    store.end_trial("bench", True, 100.0, "done", calls // 100, 0)
    store.close()
    latencies.sort()
    return {
        "calls": calls,
        "accepted_calls_per_s": round(calls / accepted),
        "enqueue_p50_us": round(latencies[len(latencies) // 2] * 1e6, 2),
        "enqueue_p99_us": round(latencies[int(len(latencies) * 0.99)] * 1e6, 2),
        "enqueue_total_ms": round(accepted * 1000, 1),
        "flush_ms_after_last_call": round((flushed - accepted) * 1000, 1),
        "committed_all_ms": round(flushed * 1000, 1),
        "dashboard_reads_during_write": reads[0],
    }


def read(root: Path) -> dict[str, float]:
    started = time.perf_counter()
    result = analytics.load(root)
    analytics_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    timeline = Dashboard(root).trial("bench")
    timeline_ms = (time.perf_counter() - started) * 1000
    return {
        "depth0_calls": result.calls,
        "analytics_ms": round(analytics_ms, 1),
        "trial_timeline_ms": round(timeline_ms, 1),
        "trial_timeline_rows": len(timeline["tool_calls"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000, help="tool calls to record (default: 10000)")
    parser.add_argument("--store", type=Path, help="store folder (default: a new temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trace-bench-") as scratch:
        root = args.store or Path(scratch)
        figures = {**record(root, args.calls), **read(root)}
    for key, value in figures.items():
        print(f"{key:>30}: {value}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "trace_bench.json").write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
