"""Idle benchmark: the CPU an idle graph (the Franka's by default) uses, per node and in all.

    make bench-idle      # or: .venv/bin/python bench/idle_bench.py [--robot go2w_piper] [--duration 20]

Launches the graph as the e2e tests do (``python -m maestro_agent.cli launch franka vlm:=scripted``, the
sim at real time, no goal), waits until the agent's ``run_task`` server is up and ``--settle`` s more,
then samples the CPU time (user + system) of the launcher's whole process tree over ``--duration`` s,
grouped per node by command line (the sandbox's bwrap and worker processes as ``sandbox``, the per-node
keepers and the launcher as ``launcher``). Figures are cores (1.0 = one core busy). ``--threads``
prints each busy thread as well. This process leaves the ROS graph before sampling. Writes
bench/results/idle_bench.json (``--out`` elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))

import psutil
import rclpy
from rclpy.action import ActionClient
from rclpy.context import Context
from rclpy.node import Node

from maestro_msgs.action import RunTask

RESULTS = Path(__file__).resolve().parent / "results"
ORDER = (
    "sim",
    "motion",
    "navigation",
    "agent",
    "sandbox",
    "detector",
    "keypointer",
    "grasp_planner",
    "launcher",
)


def group_of(command: list[str]) -> str:
    """The node a process belongs to, from its command line."""
    text = " ".join(command)
    if "keeper.py" in text or "maestro_agent.cli" in text:
        return "launcher"
    if "maestro_agent.sandbox" in text or (command and command[0].endswith("bwrap")):
        return "sandbox"
    for word in command:
        if word.startswith("__node:="):
            return word.split(":=", 1)[1]
    for word in command:
        if word.endswith("_node"):
            return Path(word).name.removesuffix("_node")
    return Path(command[0]).name if command else "?"


def tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


def cpu_of(process: psutil.Process) -> tuple[float, dict[int, float]] | None:
    """The process's CPU seconds so far and its threads'; None once it is gone."""
    try:
        with process.oneshot():
            times = process.cpu_times()
            threads = {t.id: t.user_time + t.system_time for t in process.threads()}
        return times.user + times.system, threads
    except psutil.Error:
        return None


def thread_name(pid: int, tid: int) -> str:
    try:
        return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    except OSError:
        return "?"


def wait_for_agent(timeout: float) -> bool:
    """Whether the agent's run_task server appeared within ``timeout`` s; leaves the graph after."""
    context = Context()
    rclpy.init(context=context)
    node = Node("idle_bench", context=context)
    try:
        return ActionClient(node, RunTask, "/maestro/run_task").wait_for_server(timeout_sec=timeout)
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def sample(root: psutil.Process, duration: float, threads: bool) -> dict:
    """Cores per group (and per thread with ``threads``) of ``root``'s tree over ``duration`` s."""
    before = {p.pid: (p, cpu_of(p)) for p in tree(root)}
    started = time.monotonic()
    time.sleep(duration)
    elapsed = time.monotonic() - started
    groups: dict[str, float] = {}
    busy: list[tuple[float, str, int, str]] = []
    for process in tree(root):
        now = cpu_of(process)
        if now is None:
            continue
        pid = process.pid
        was = before.get(pid, (None, None))[1] or (0.0, {})  # born while sampling: all of its time
        try:
            name = group_of(process.cmdline())
        except psutil.Error:
            continue
        groups[name] = groups.get(name, 0.0) + (now[0] - was[0]) / elapsed
        if threads:
            for tid, seconds in now[1].items():
                cores = (seconds - was[1].get(tid, 0.0)) / elapsed
                if cores >= 0.005:
                    busy.append((cores, name, tid, "main" if tid == pid else thread_name(pid, tid)))
    ordered = {k: round(groups[k], 3) for k in (*ORDER, *sorted(set(groups) - set(ORDER))) if k in groups}
    result = {"cores": ordered, "total": round(sum(groups.values()), 3), "seconds": round(elapsed, 1)}
    if threads:
        result["threads"] = [
            {"node": node, "tid": tid, "name": name, "cores": round(cores, 3)}
            for cores, node, tid, name in sorted(busy, reverse=True)
        ]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="sampling window, s")
    parser.add_argument("--settle", type=float, default=10.0, help="wait after the agent is up, s")
    parser.add_argument("--threads", action="store_true", help="also list the busy threads")
    parser.add_argument("--robot", default="franka", help="bringup to launch: franka or go2w_piper")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: bench/results/idle_bench[_ROBOT].json"
    )
    parser.add_argument("launch_args", nargs="*", help="extra launch arguments (name:=value)")
    args = parser.parse_args()
    log_path = Path(tempfile.gettempdir()) / f"idle_bench_{os.getpid()}.log"
    with tempfile.TemporaryDirectory() as traces, log_path.open("w") as log:
        command = [sys.executable, "-m", "maestro_agent.cli", "launch", args.robot, "vlm:=scripted"]
        command += args.launch_args
        env = dict(os.environ, PYTHONUNBUFFERED="1", MAESTRO_TRACE_DIR=traces)
        launcher = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            if not wait_for_agent(90.0):
                print(f"the agent's run_task server did not come up; see {log_path}", file=sys.stderr)
                return 1
            time.sleep(args.settle)
            result = sample(psutil.Process(launcher.pid), args.duration, args.threads)
        finally:
            launcher.send_signal(signal.SIGINT)
            stopper = threading.Timer(30.0, launcher.kill)
            stopper.start()
            launcher.wait()
            stopper.cancel()
    result.update(
        command=" ".join([f"maestro launch {args.robot} vlm:=scripted", *args.launch_args]),
        settle_s=args.settle,
        cpus=os.cpu_count(),
        machine=platform.processor() or platform.machine(),
    )
    for name, cores in result["cores"].items():
        print(f"{name:14s} {cores:6.3f} cores")
    print(f"{'total':14s} {result['total']:6.3f} cores over {result['seconds']} s")
    for row in result.get("threads", [])[:25]:
        print(f"  {row['node']:14s} {row['name']:16s} {row['cores']:6.3f}")
    out = args.out or RESULTS / (
        "idle_bench.json" if args.robot == "franka" else f"idle_bench_{args.robot}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}; launcher log {log_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
