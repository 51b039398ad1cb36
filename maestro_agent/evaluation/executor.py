"""Executors run a sweep's batches and hand each finished trial's row to the caller as it ends.

``Executor`` is the interface (a Ray executor is another implementation: one remote ``run_job`` per
batch). ``LocalPool`` runs up to ``workers`` worker processes on this machine, each with its own graph in
its own ROS domain (``domain_ids``; discovery kept on localhost). A worker that dies with trials left
has them run again by a fresh worker (counted against the trials' retries) or recorded as failed.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psutil

from maestro_agent.evaluation.spec import Batch
from maestro_agent.evaluation.worker import RECORD
from maestro_tools.common.errors import InvalidArgumentError

GRAPH_MEMORY_BYTES = 2 * 2**30  # a simulated Franka graph: ~1.5-2 GB resident
GRAPH_CORES = 2  # cores one graph keeps busy at the sweeps' real-time factor
DEFAULT_DOMAIN_BASE = 100
MAX_DOMAIN_ID = 232  # the highest ROS_DOMAIN_ID whose DDS ports fit on Linux
OnRow = Callable[[dict[str, Any]], None]


class Executor(Protocol):
    def run(self, batches: Sequence[Batch], job: dict[str, Any], on_row: OnRow) -> None:
        """Run every batch (``job``: the settings each batch shares: retries, max_substeps, ...);
        ``on_row`` gets each trial's row as it ends, from any thread."""


def default_workers(cores: int | None = None, available_bytes: int | None = None) -> int:
    """Graphs this machine holds at once: by cores and by free memory, at least one."""
    cores = cores if cores is not None else (os.cpu_count() or 1)
    available = available_bytes if available_bytes is not None else psutil.virtual_memory().available
    return max(1, min(cores // GRAPH_CORES, available // GRAPH_MEMORY_BYTES))


def domain_ids(workers: int, base: int | None = None) -> list[int]:
    """Distinct ROS domains, one per worker, from ``base`` (default: this process's ROS_DOMAIN_ID, else
    DEFAULT_DOMAIN_BASE: not 0, where a user's own graphs run)."""
    if base is None:
        base = int(os.environ.get("ROS_DOMAIN_ID") or DEFAULT_DOMAIN_BASE)
    if base < 0 or base + workers - 1 > MAX_DOMAIN_ID:
        raise InvalidArgumentError(
            f"domains {base}..{base + workers - 1} do not fit in 0..{MAX_DOMAIN_ID}; "
            "choose another --domain-base"
        )
    return list(range(base, base + workers))


@dataclass
class LocalPool:
    workers: int
    domains: Sequence[int]
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)  # added to each worker's environment
    command: tuple[str, ...] = (sys.executable, "-m", "maestro_agent.evaluation.worker")  # tests: a fake
    _processes: set[subprocess.Popen[str]] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        if self.workers < 1 or len(self.domains) < self.workers:
            raise InvalidArgumentError(
                f"{self.workers} workers need as many domain ids; got {list(self.domains)}"
            )

    def run(self, batches: Sequence[Batch], job: dict[str, Any], on_row: OnRow) -> None:
        work: queue.Queue[tuple[Batch, int]] = queue.Queue()
        for batch in batches:
            work.put((batch, 0))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        threads = [
            threading.Thread(target=self._serve, args=(k, work, job, on_row), daemon=True)
            for k in range(min(self.workers, len(batches)))
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.5)
        except KeyboardInterrupt:
            self.stop()
            for thread in threads:
                thread.join(60)
            raise

    def stop(self) -> None:
        """Ask every worker to stop (SIGINT: each stops its graph and exits)."""
        self._stopping.set()
        with self._lock:
            for process in self._processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)

    def _serve(
        self, k: int, work: queue.Queue[tuple[Batch, int]], job: dict[str, Any], on_row: OnRow
    ) -> None:
        while not self._stopping.is_set():
            try:
                batch, restarts = work.get_nowait()
            except queue.Empty:
                return
            left = self._run_batch(k, batch, job, on_row)
            if left is None:  # interrupted
                return
            if left:
                self._requeue(k, batch, left, restarts, job, work, on_row)

    def _run_batch(self, k: int, batch: Batch, job: dict[str, Any], on_row: OnRow) -> list[str] | None:
        """Run one batch in a worker process; the keys it did not finish (None: interrupted)."""
        env = dict(
            os.environ,
            **self.env,
            ROS_DOMAIN_ID=str(self.domains[k]),
            ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
            PYTHONUNBUFFERED="1",
        )
        left = [t.key for t in batch.trials]
        with (self.log_dir / f"worker-{k}.log").open("a") as log:
            process = subprocess.Popen(
                list(self.command),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
            )
            with self._lock:
                self._processes.add(process)
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(json.dumps({**batch.to_json(), **job}))
            process.stdin.close()
            for line in process.stdout:
                if line.startswith(RECORD):
                    row = json.loads(line[len(RECORD) :])
                    row.update(worker=k, domain_id=self.domains[k])
                    on_row(row)
                    if row["key"] in left:
                        left.remove(row["key"])
            code = process.wait()
            with self._lock:
                self._processes.discard(process)
        interrupted = code == 130 or code == -signal.SIGINT or self._stopping.is_set()
        return None if interrupted else left

    def _requeue(
        self,
        k: int,
        batch: Batch,
        left: list[str],
        restarts: int,
        job: dict[str, Any],
        work: queue.Queue[tuple[Batch, int]],
        on_row: OnRow,
    ) -> None:
        trials = tuple(t for t in batch.trials if t.key in left)
        if restarts < int(job.get("retries", 2)):
            work.put((Batch(batch.robot, batch.launch, trials, batch.namespace), restarts + 1))
            return
        error = f"the worker exited with trials left {restarts + 1} times; see worker-{k}.log"
        for trial in trials:
            row = {**trial.to_json(), "success": False, "progress": 0.0, "substeps": 0, "replans": 0}
            row.update(
                seconds=0.0, instruction="", summary="", trial_id="", error=error, attempts=restarts + 1
            )
            row.update(worker=k, domain_id=self.domains[k], infra_errors=[], launch=list(batch.launch))
            on_row(row)
