"""With and without the VLA tool on the same perturbed seeds: progress, wall time and the chunk latency.

    .venv/bin/python bench/vla_bench.py --demos DIR [--tasks ball_in_bowl clean_table] [--seeds 10 11 12]
                                        [--axis pose] [--rtf 3] [--out bench/results/vla_bench.json]

Two graphs, one after the other (``maestro launch franka vlm:=scripted``): "tools" replays the plain
reference programs; "vla" adds ``vla:=warp vla_demos:=DIR``, so the agent replays the *_vla programs whose
``vla.run`` does the pick-and-place (the tools only when it misses). Each setting is reset and sent as
a RunTask goal; the chunk latency (policy round trip, bridge side) and how each run_policy goal ended
are read from the vla_bridge's log lines. Prints a Markdown table and writes every trial as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))

from maestro_agent.evaluation.sweep import AXES, SimGraph, run_trial, settings

RESULTS = Path(__file__).resolve().parent / "results"
ENDED = re.compile(r"run_policy ended (\w+) \((\d+) chunks, ([\d.]+) ms mean chunk latency\)")


def run_configuration(name: str, arguments: list[str], plan: list, rtf: float) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with SimGraph("franka", ["vlm:=scripted", f"real_time_factor:={rtf}", *arguments]) as graph:
        for setting in plan:
            if not graph.alive():
                print("the graph exited:\n" + graph.log_tail(), file=sys.stderr)
                break
            seen = len(graph.lines)
            record = run_trial(setting, server_timeout_s=180.0)
            time.sleep(0.5)  # the bridge's last log line
            runs = [ENDED.search(line) for line in graph.lines[seen:]]
            runs = [m for m in runs if m]
            chunks = sum(int(m.group(2)) for m in runs)
            latency = sum(int(m.group(2)) * float(m.group(3)) for m in runs) / chunks if chunks else None
            row = record.to_json() | {
                "configuration": name,
                "vla_runs": [m.group(1) for m in runs],
                "chunks": chunks,
                "chunk_latency_ms": latency,
            }
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("configuration", "task", "seed", "progress", "seconds")}))
            print(f"  vla: {row['vla_runs']} {chunks} chunks, latency {latency} ms", flush=True)
    return rows


def summary(rows: list[dict[str, object]]) -> str:
    lines = [
        "| task | configuration | trials | success | mean progress | mean wall s | VLA runs DONE "
        "| chunk latency ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task in dict.fromkeys(r["task"] for r in rows):
        for name in ("tools", "vla"):
            mine = [r for r in rows if r["task"] == task and r["configuration"] == name]
            if not mine:
                continue
            runs = [v for r in mine for v in r["vla_runs"]]
            chunks = sum(r["chunks"] for r in mine)
            latency = (
                sum(r["chunks"] * (r["chunk_latency_ms"] or 0.0) for r in mine) / chunks if chunks else 0
            )
            lines.append(
                f"| {task} | {name} | {len(mine)} | {sum(bool(r['success']) for r in mine)}/{len(mine)} | "
                f"{sum(r['progress'] for r in mine) / len(mine):.1f} | "
                f"{sum(r['seconds'] for r in mine) / len(mine):.1f} | "
                + (f"{runs.count('DONE')}/{len(runs)} | {latency:.1f} |" if runs else "- | - |")
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--demos", type=Path, required=True, help="demonstrations (*.npz) for the warp policy"
    )
    parser.add_argument("--tasks", nargs="+", default=["ball_in_bowl"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[10, 11, 12])
    parser.add_argument("--axis", default="pose", choices=AXES)
    parser.add_argument("--rtf", type=float, default=3.0, help="the sim's real-time factor")
    parser.add_argument("--configurations", nargs="+", default=["tools", "vla"], choices=("tools", "vla"))
    parser.add_argument("--out", type=Path, default=RESULTS / "vla_bench.json")
    args = parser.parse_args()
    plan = settings(args.tasks, args.seeds, [args.axis])
    extra = {"tools": [], "vla": ["vla:=warp", f"vla_demos:={args.demos.expanduser().resolve()}"]}
    start, rows = time.monotonic(), []
    for name in args.configurations:
        rows += run_configuration(name, extra[name], plan, args.rtf)
    text = summary(rows)
    print(text + f"\n{len(rows)} trials in {time.monotonic() - start:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"argv": sys.argv[1:], "summary": text, "trials": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
