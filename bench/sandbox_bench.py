"""Sandbox benchmark: the tool-call round trip through the channel, and sandbox start-up.

    make bench-sandbox      # or: .venv/bin/python bench/sandbox_bench.py

In one run: a trivial tool called directly, then the same tool called N times from code in the
sandbox (per call: the child's stub, the frame, the agent's checks and dispatch, the reply); a
get_image-sized answer (640 x 480 RGB); and the start-up of an isolated and of an unisolated sandbox.
Writes bench/results/sandbox_bench.json.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from maestro_agent.sandbox import Sandbox, SandboxLimits, ToolHost

CALLS = 2000
STARTS = 5
LIMITS = SandboxLimits(wall_s=120.0, cpu_s=120.0, memory_mb=1024)


class Tool:
    """A trivial tool."""

    def add(self, a: float, b: float = 1.0) -> float:
        return a + b

    def image(self) -> np.ndarray:
        return np.zeros((480, 640, 3), np.uint8)


def direct_call_us() -> float:
    tool = Tool()
    started = time.perf_counter()
    for i in range(CALLS):
        tool.add(i)
    return (time.perf_counter() - started) / CALLS * 1e6


def sandbox_calls(isolate: bool) -> dict[str, float]:
    with Sandbox(ToolHost({"tool": Tool()}), limits=LIMITS, isolate=isolate, trace_lines=False) as sb:
        sb.run("tool.add(1)")  # warm
        loop = sb.run(f"for i in range({CALLS}):\n    pass")
        calls = sb.run(f"for i in range({CALLS}):\n    tool.add(i)")
        images = sb.run("for i in range(50):\n    tool.image()")
        assert calls.status == images.status == "ok", (calls.error, images.error)
    return {
        "round_trip_us": (calls.duration_s - loop.duration_s) / CALLS * 1e6,
        "image_round_trip_ms": images.duration_s / 50 * 1e3,
    }


def start_ms(isolate: bool) -> float:
    times = []
    for _ in range(STARTS):
        started = time.perf_counter()
        with Sandbox(ToolHost({"tool": Tool()}), limits=LIMITS, isolate=isolate) as sb:
            times.append((time.perf_counter() - started) * 1e3)
            assert sb.run("tool.add(1)").status == "ok"
    return statistics.median(times)


def main() -> int:
    direct = direct_call_us()
    isolated, plain = sandbox_calls(True), sandbox_calls(False)
    results = {
        "direct_call_us": round(direct, 2),
        "round_trip_us": round(isolated["round_trip_us"], 1),
        "round_trip_unisolated_us": round(plain["round_trip_us"], 1),
        "image_640x480_round_trip_ms": round(isolated["image_round_trip_ms"], 2),
        "start_isolated_ms": round(start_ms(True), 1),
        "start_unisolated_ms": round(start_ms(False), 1),
    }
    for key, value in results.items():
        print(f"{key:32s} {value}")
    out = Path(__file__).resolve().parent / "results" / "sandbox_bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
