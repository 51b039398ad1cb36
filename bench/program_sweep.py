"""Sweep of the scripted reference programs: every task x perturbation axis x seed, mean progress per cell.

    make bench-programs   # or: .venv/bin/python bench/program_sweep.py [--tasks ...] [--seeds 0 1 2]
                          #     [--axes none visual pose new_object language] [--rtf 3] [--robot franka]

Launches the robot's graph with the scripted backend (``maestro launch franka vlm:=scripted``, the sim at
``--rtf`` times real time; ``--robot go2w_piper`` for the house tasks that have a program), then for each
setting resets the scene and sends the scene's own instruction (its paraphrase under the language axis)
as a RunTask goal. Prints a Markdown table of mean progress per task and axis and writes every trial to
bench/results/program_sweep.json (``--out`` elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))

from maestro_agent.evaluation.sweep import AXES, INTERRUPTED, SimGraph, run_trial, settings, table
from maestro_agent.run_client import interruptible
from maestro_tools.sim.tasks import TASKS as TABLETOP_TASKS

RESULTS = Path(__file__).resolve().parent / "results"
TASKS = {  # robot -> the tasks with a reference program in config/programs
    "franka": tuple(TABLETOP_TASKS),  # every tabletop task has one
    "go2w_piper": ("trash_ball", "find_ball"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--robot", default="franka", choices=tuple(TASKS))
    parser.add_argument("--tasks", nargs="+", help="default: every task of the robot with a program")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--axes", nargs="+", default=list(AXES), choices=AXES)
    parser.add_argument("--rtf", type=float, default=3.0, help="the sim's real-time factor")
    parser.add_argument("--out", type=Path, default=RESULTS / "program_sweep.json")
    args = parser.parse_args()
    interruptible()  # SIGINT cancels the running goal and ends the sweep, started in the background or not
    plan = settings(args.tasks or list(TASKS[args.robot]), args.seeds, args.axes)
    records = []
    start = time.monotonic()
    with SimGraph(args.robot, ["vlm:=scripted", f"real_time_factor:={args.rtf}"]) as graph:
        for index, setting in enumerate(plan, 1):
            if not graph.alive():
                print("the graph exited:\n" + graph.log_tail(), file=sys.stderr)
                return 2
            record = run_trial(setting)
            records.append(record)
            note = record.error or record.summary[:80]
            print(
                f"[{index}/{len(plan)}] {setting.task} {setting.axis} seed {setting.seed}: "
                f"{record.progress:.0f} in {record.seconds:.0f} s ({record.substeps} substeps) {note}",
                flush=True,
            )
            if record.error == INTERRUPTED:
                break
    print()
    print(table(records))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                "robot": args.robot,
                "rtf": args.rtf,
                "minutes": round((time.monotonic() - start) / 60, 1),
                "trials": [r.to_json() for r in records],
            },
            indent=1,
        )
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
