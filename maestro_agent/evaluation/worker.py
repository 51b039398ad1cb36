"""A sweep worker: one graph configuration's trials on one graph, in this process's ROS domain.

``python -m maestro_agent.evaluation.worker`` reads a job (``Batch.to_json()`` plus ``retries``,
``max_substeps``, ``server_timeout_s``) as JSON on stdin and prints one ``RECORD <json>`` line on stdout
per trial as it ends; its log goes to stderr. The caller sets ROS_DOMAIN_ID (a domain of this worker's
own) and ROS_AUTOMATIC_DISCOVERY_RANGE. ``run_job`` is the same as a function (a remote executor's task).

A trial whose client failed (``TrialRecord.error``: the graph crashed, a service never came) is an
infrastructure failure: the graph is restarted and the trial run again, ``retries`` times at most.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import psutil
from rcl_interfaces.srv import SetParameters

from maestro_agent.evaluation.sweep import (
    INTERRUPTED,
    Setting,
    SimGraph,
    TrialRecord,
    interrupt_when_parent_dies,
    run_trial,
)
from maestro_tools.common.errors import MaestroError
from maestro_tools.common.teardown import close_context, destroy_node

RECORD = "RECORD "
STOPPED = 130  # exit status after Ctrl-C


def wait_ready(graph: SimGraph, namespace: str, timeout_s: float) -> float:
    """Seconds until the agent's run_task and the sim's reset_scene are up; raises when the graph exits
    or they do not come within ``timeout_s``."""
    import rclpy
    from rclpy.action import ActionClient
    from rclpy.context import Context
    from rclpy.node import Node

    from maestro_msgs.action import RunTask
    from maestro_msgs.srv import ResetScene

    start = time.monotonic()
    context = Context()
    rclpy.init(context=context)
    node = Node("maestro_eval_ready", namespace=namespace, context=context)
    try:
        action = ActionClient(node, RunTask, "run_task")
        reset = node.create_client(ResetScene, "reset_scene")
        while not (action.server_is_ready() and reset.service_is_ready()):
            if not graph.alive():
                raise RuntimeError("the graph exited while starting:\n" + graph.log_tail())
            if time.monotonic() - start > timeout_s:
                raise RuntimeError(f"{namespace}/run_task or reset_scene not up within {timeout_s:.0f} s")
            time.sleep(0.5)
        return round(time.monotonic() - start, 1)
    finally:
        destroy_node(node)
        close_context(context)


def fault_seed(key: str) -> int:
    """A trial's fault seed: stable across runs and executors (its key names the trial)."""
    return zlib.crc32(key.encode()) & 0x7FFFFFFF


def set_fault_seed(namespace: str, seed: int, timeout_s: float = 30.0) -> None:
    """Set the agent's ``fault_seed`` parameter (read at its next goal); raises when it cannot."""
    import rclpy
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from maestro_tools.common.errors import UnavailableError

    context = Context()
    rclpy.init(context=context)
    node = Node("maestro_eval_faults", namespace=namespace, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    deadline = time.monotonic() + timeout_s
    try:
        client = node.create_client(SetParameters, "agent/set_parameters")
        value = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=seed)
        request = SetParameters.Request(parameters=[Parameter(name="fault_seed", value=value)])
        reason = "its set_parameters service is not available"
        while time.monotonic() < deadline:  # the agent may still be declaring its parameters
            if client.wait_for_service(timeout_sec=1.0):
                future = client.call_async(request)
                executor.spin_until_future_complete(future, timeout_sec=max(0.1, deadline - time.monotonic()))
                result = future.result()
                if result is not None and result.results[0].successful:
                    return
                reason = result.results[0].reason if result is not None else "no answer"
            time.sleep(0.5)
        raise UnavailableError(f"cannot set the agent's fault_seed within {timeout_s:.0f} s: {reason}")
    finally:
        executor.shutdown()
        destroy_node(node)
        close_context(context)


def injected_faults(trial_id: str) -> int:
    """The ``fault_injected`` events the agent recorded for ``trial_id`` (its store: MAESTRO_TRACE_DIR)."""
    path = Path(os.environ.get("MAESTRO_TRACE_DIR", "~/.maestro/traces")).expanduser() / "traces.db"
    if not trial_id or not path.is_file():
        return 0
    with contextlib.closing(sqlite3.connect(path, timeout=30.0)) as db:
        query = "SELECT count(*) FROM events WHERE trial_id = ? AND kind = 'fault_injected'"
        return int(db.execute(query, (trial_id,)).fetchone()[0])


def graph_rss_mb() -> float:
    """Resident memory of this process's children (the graph's processes), MB."""
    total = 0
    for child in psutil.Process().children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            continue
    return round(total / 2**20, 1)


def _failed(setting: Setting, error: str) -> TrialRecord:
    return TrialRecord(setting.task, setting.seed, setting.axis, "", False, 0.0, 0, 0, 0.0, "", "", error)


def run_job(job: dict[str, Any], emit: Callable[[dict[str, Any]], None], log: TextIO = sys.stderr) -> bool:
    """Run the job's trials in order on one graph (restarted after an infrastructure failure); ``emit``
    gets each trial's row. False when interrupted (Ctrl-C): the interrupted trial is not emitted."""
    retries, namespace = int(job.get("retries", 2)), job.get("namespace", "/maestro")
    timeout_s = float(job.get("server_timeout_s", 180.0))
    graph: SimGraph | None = None
    started: dict[str, float] = {}

    def start() -> SimGraph:
        running = SimGraph(job["robot"], job["launch"]).__enter__()
        print(f"graph: {' '.join(running.command[2:])}", file=log, flush=True)
        started.update(start_s=wait_ready(running, namespace, timeout_s), rss_mb=graph_rss_mb())
        print(f"graph up in {started['start_s']} s, {started['rss_mb']} MB", file=log, flush=True)
        return running

    def stop() -> None:
        nonlocal graph
        if graph is not None:
            graph.__exit__(None, None, None)
            graph = None

    try:
        for trial in job["trials"]:
            setting = Setting(trial["task"], trial["seed"], trial["axis"])
            errors: list[str] = []
            faulty = trial.get("dimensions", {}).get("faults", "none") != "none"
            for _attempt in range(retries + 1):
                if graph is None or not graph.alive():
                    stop()
                    try:
                        graph = start()
                    except RuntimeError as exc:
                        stop()
                        record = _failed(setting, f"graph start: {exc}"[:2000])
                        errors.append(record.error)
                        continue
                try:  # the same trial gets the same faults on every run and executor
                    if faulty:
                        set_fault_seed(namespace, fault_seed(trial["key"]))
                except MaestroError as exc:
                    record = _failed(setting, f"fault seed: {type(exc).__name__}: {exc}")
                else:
                    record = run_trial(setting, namespace, int(job.get("max_substeps", 0)), timeout_s)
                if record.error == INTERRUPTED:
                    return False
                if not record.error:
                    break
                errors.append(record.error)
                print(f"{trial['key']}: {record.error}\n{graph.log_tail()}", file=log, flush=True)
                stop()  # restart the graph before the next attempt
            row = {**trial, **record.to_json(), "attempts": len(errors) + (0 if record.error else 1)}
            row["launch"] = list(job["launch"])  # the graph's launch arguments
            if faulty:
                row["injected_faults"] = injected_faults(record.trial_id)
            row.update(
                infra_errors=errors[:-1] if record.error else errors,
                graph_start_s=started.get("start_s"),
                graph_rss_mb=started.get("rss_mb"),
                finished=round(time.time(), 3),
            )
            print(f"{trial['key']}: {record.progress:.0f} in {record.seconds:.0f} s", file=log, flush=True)
            emit(row)
        return True
    except KeyboardInterrupt:
        return False
    finally:
        stop()


def main() -> int:
    # Stopped as by Ctrl-C (the graph stops, the trial is not recorded) on the pool's SIGINT, on SIGTERM, and
    # when the sweep process dies. SIGINT is re-armed: a sweep started in the background inherits it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    interrupt_when_parent_dies()
    job = json.loads(sys.stdin.read())

    def emit(row: dict[str, Any]) -> None:
        print(RECORD + json.dumps(row), flush=True)

    return 0 if run_job(job, emit) else STOPPED


def exit_now(code: int) -> None:
    """Flush and leave without the interpreter's finalization: once every row is out, a worker hung 11
    minutes in it (70 DDS threads of the trials' ROS contexts waiting on each other), holding up the sweep."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
