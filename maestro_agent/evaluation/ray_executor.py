"""Run a sweep's batches as Ray tasks: ``maestro eval SPEC --executor ray [--ray-address ADDR]``.

Optional: ``make setup-ray`` installs Ray into the venv. With an address the sweep connects to that
cluster (every node needs this package installed, as here); without one it starts a private Ray on this
machine bound to 127.0.0.1 (Ray's single-node mode; no dashboard; usage stats off) and stops it afterwards.

Each batch is one Ray task (``run_batch_task``, a streaming generator) that runs the worker module as a
subprocess with the batch's graph in its own ROS domain (ROS_DOMAIN_ID from ``domains``, discovery on
localhost) and a trace store shard of its own; it streams each trial's row back as it ends, then the
shard (packed) and the worker's log. The driver merges the shards into the sweep's trace store at the
end (``maestro_agent.traces.merge``). Restarts and retries are ``LocalPool``'s: ``RayExecutor`` only
replaces where a batch runs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maestro_agent.evaluation.executor import GRAPH_CORES, LocalPool, OnRow
from maestro_agent.evaluation.spec import Batch
from maestro_agent.evaluation.worker import RECORD, STOPPED
from maestro_tools.common.errors import UnavailableError

SETUP_HINT = "the ray executor needs Ray: run `make setup-ray` (installs maestro[ray] into the venv)"
SHARDS = "trace_shards"  # next to the sweep's traces/ while it runs; merged and removed at the end


def require_ray() -> None:
    """Raise an UnavailableError saying how to install Ray where it is not (without importing it: how it
    starts is set before that)."""
    if importlib.util.find_spec("ray") is None:
        raise UnavailableError(SETUP_HINT)


def start_ray(workers: int, address: str = "") -> Any:
    """Connect to the cluster at ``address``, or start a private local Ray on 127.0.0.1 (no dashboard, no
    usage stats) with logical CPUs for ``workers`` graphs. An initialised Ray is used as it is."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # read by ray.init and inherited by the processes it starts
    if not address:  # single-node mode: the node's address is 127.0.0.1 and every Ray server binds to it
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # (read when ray is imported)
    require_ray()
    import ray

    if ray.is_initialized():
        return ray
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        return ray
    ray.init(
        address="local",
        num_cpus=workers * GRAPH_CORES,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    node_ip = ray.util.get_node_ip_address()
    if node_ip != "127.0.0.1":  # ray was imported before the setting above: refuse to run off loopback
        ray.shutdown()
        raise UnavailableError(
            f"the local Ray took node address {node_ip}, not 127.0.0.1; set "
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before ray is imported, or pass --ray-address"
        )
    return ray


def _pack(folder: Path) -> bytes:
    """The shard as a tar.gz: a consistent copy of its database (SQLite's backup: an agent may still be
    closing it) and its image and video files (a file that vanishes meanwhile is left out)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        source = folder / "traces.db"
        if source.is_file():
            copy = folder.parent / "traces-copy.db"
            with (
                contextlib.closing(sqlite3.connect(source, timeout=30.0)) as db,
                contextlib.closing(sqlite3.connect(copy)) as out,
            ):
                db.backup(out)
            tar.add(copy, arcname="traces.db")
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_file() and not path.name.startswith("traces.db"):
                with contextlib.suppress(FileNotFoundError):
                    tar.add(path, arcname=str(path.relative_to(folder)))
    return data.getvalue()


def run_batch_task(job_text: str, env: dict[str, str], command: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """The Ray task: one batch in a worker subprocess. Yields ("row", row, shard_db) per trial, then
    ("end", exit_status, packed_shard, log_text)."""
    work = Path(tempfile.mkdtemp(prefix="maestro-ray-batch-"))
    shard, log_path = work / "traces", work / "worker.log"
    environment = {**os.environ, **env, "MAESTRO_TRACE_DIR": str(shard), "PYTHONUNBUFFERED": "1"}
    if "OMP_NUM_THREADS" not in env:  # Ray sets it for its workers; the graph gets what a local one gets
        environment.pop("OMP_NUM_THREADS", None)
    process: subprocess.Popen[str] | None = None
    try:
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [sys.executable if part == "python" else part for part in command],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=environment,
            )
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(job_text)
            process.stdin.close()
            for line in process.stdout:
                if line.startswith(RECORD):
                    yield ("row", json.loads(line[len(RECORD) :]), str(shard / "traces.db"))
            code = process.wait()
        yield ("end", code, _pack(shard), log_path.read_text(errors="replace"))
    finally:  # cancelled (Ctrl-C in the driver): the worker stops its graph cleanly
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class RayExecutor(LocalPool):
    """``LocalPool`` whose batches run as Ray tasks; ``trace_dir``: the sweep's store the shards join."""

    trace_dir: Path = field(default_factory=lambda: Path("traces"))
    command: tuple[str, ...] = ("python", "-m", "maestro_agent.evaluation.worker")  # "python": the node's
    address: str = ""
    task_cpus: float = GRAPH_CORES  # what one graph keeps busy: Ray places tasks by it
    _running: dict[int, Any] = field(default_factory=dict, repr=False)
    _count: int = field(default=0, repr=False)
    _count_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def run(self, batches: Sequence[Batch], job: dict[str, Any], on_row: OnRow) -> None:
        from maestro_agent.traces.merge import merge_stores

        self.trace_dir = Path(self.trace_dir).expanduser().resolve()
        shards = self.trace_dir.parent / SHARDS
        self._ray = start_ray(self.workers, self.address)
        remote = self._ray.remote(run_batch_task)
        self._task = remote.options(num_returns="streaming", num_cpus=self.task_cpus, max_retries=0)
        try:
            super().run(batches, job, on_row)
        finally:
            self._ray.shutdown()
            found = sorted(p for p in shards.glob("*") if p.is_dir())
            if found:
                merge_stores(self.trace_dir, found)
                shutil.rmtree(shards, ignore_errors=True)

    def stop(self) -> None:
        """Cancel the running tasks (each stops its worker, which stops its graph)."""
        self._stopping.set()
        with self._lock:
            running = list(self._running.values())
        for generator in running:
            self._ray.cancel(generator)

    def _run_batch(self, k: int, batch: Batch, job: dict[str, Any], on_row: OnRow) -> list[str] | None:
        env = {
            "ROS_DOMAIN_ID": str(self.domains[k]),
            "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
            **self.env,
        }
        if "OMP_NUM_THREADS" in os.environ:
            env.setdefault("OMP_NUM_THREADS", os.environ["OMP_NUM_THREADS"])
        left = [t.key for t in batch.trials]
        final_db = str(self.trace_dir / "traces.db")
        with self._count_lock:
            self._count += 1
            shard = self.trace_dir.parent / SHARDS / f"worker-{k}-batch-{self._count}"
        code: int | None = None
        with self._lock:
            if self._stopping.is_set():
                return None
            generator = self._task.remote(json.dumps({**batch.to_json(), **job}), env, self.command)
            self._running[k] = generator
        try:
            for ref in generator:
                item = self._ray.get(ref)
                if item[0] == "row":
                    row, shard_db = item[1], item[2]
                    row["summary"] = str(row.get("summary", "")).replace(shard_db, final_db)
                    row.update(worker=k, domain_id=self.domains[k])
                    on_row(row)
                    if row["key"] in left:
                        left.remove(row["key"])
                else:
                    code, packed, log_text = item[1], item[2], item[3]
                    shard.mkdir(parents=True, exist_ok=True)
                    with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
                        _extract(tar, shard)
                    with (self.log_dir / f"worker-{k}.log").open("a") as log:
                        log.write(log_text)
        except Exception as exc:  # the task died (its node lost, cancelled): its trials are left
            with (self.log_dir / f"worker-{k}.log").open("a") as log:
                log.write(f"ray task failed: {type(exc).__name__}: {exc}\n")
        finally:
            with self._lock:
                self._running.pop(k, None)
        interrupted = code in (STOPPED, -signal.SIGINT) or self._stopping.is_set()
        return None if interrupted else left


def _extract(tar: tarfile.TarFile, folder: Path) -> None:
    """Unpack a shard: plain files and folders inside ``folder`` only (Python < 3.11.4 has no filter)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(folder, filter="data")
        return
    root = folder.resolve()
    for member in tar.getmembers():
        inside = (root / member.name).resolve()
        if not (member.isfile() or member.isdir()) or not inside.is_relative_to(root):
            raise ValueError(f"refusing the shard member {member.name!r}: not a plain file inside {root}")
    tar.extractall(folder)
