"""The sandbox as a boundary: what a compromised child can reach, checked from outside it.

Three angles: the OS layers against a child whose Python-level guards are assumed bypassed (it runs
with full Python under the same isolation and confinement as the worker); the channel against a child
that breaks the protocol (the agent must not hang, crash or believe it); and the routes of an outside
adversarial review, run through ``Sandbox.run`` as the agent does.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from maestro_agent.sandbox import Sandbox, SandboxError, SandboxLimits, ToolHost, child, isolation
from maestro_agent.sandbox.child import child_env
from test.unit.sandbox_fixtures.setup import Probe, make_host

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "sandbox_fixtures"
FAST = SandboxLimits(wall_s=5.0, cpu_s=5.0, memory_mb=768, grace_s=0.5, start_s=10.0)

try:
    PLAN = isolation.plan([str(FIXTURES)])
    UNAVAILABLE = ""
except isolation.IsolationUnavailableError as e:
    UNAVAILABLE = str(e)
needs_isolation = pytest.mark.skipif(bool(UNAVAILABLE), reason=f"this host cannot isolate: {UNAVAILABLE}")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    yield server
    server.close()


@needs_isolation
def test_the_os_layers_stop_a_child_without_python_guards(tmp_path: Path, listener: socket.socket) -> None:
    secret = tmp_path / "secret"
    secret.write_text("parent-only")
    targets = {
        "parent_pid": os.getpid(),
        "port": listener.getsockname()[1],
        "secret_file": str(secret),
        "write_target": str(tmp_path / "pwned"),
    }
    command = [*PLAN.prefix, sys.executable, "-s", "-P", str(FIXTURES / "escape.py")]
    done = subprocess.run(
        [*command, json.dumps(PLAN.confinement()), json.dumps(targets)],
        env=child_env({"PYTHONPATH": str(ROOT)}),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    results = json.loads(done.stdout)
    escaped = {name: outcome for name, outcome in results.items() if not outcome.startswith("blocked")}
    assert not escaped, escaped
    assert len(results) == 15
    # and from outside: nothing written, nobody connected
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(TimeoutError):
        listener.accept()


@needs_isolation
def test_the_worker_reports_its_isolation_and_the_parent_checks_it() -> None:
    with Sandbox(make_host(), limits=FAST) as sb:
        report = sb.isolation_report
        assert report["uid"] != 0 and report["seccomp"] == 2 and report["no_new_privs"] == 1
        assert report["net_devices"] == ["lo"] and len(report["pids"]) <= 3
        assert report["tmp"] == list(PLAN.tmp_entries)  # empty, or the parents of a checkout under /tmp
        assert sb.run("print(probe.pid() != 0)").stdout == "True\n"  # the tools run here, not there
    assert isolation.check_report(report, PLAN.tmp_entries) == []
    weak = {**report, "uid": 0, "seccomp": 0, "net_devices": ["eth0", "lo"], "pids": list(range(40))}
    problems = " | ".join(isolation.check_report(weak))
    for text in ("uid 0", "no seccomp filter", "eth0", "expected only its own namespace"):
        assert text in problems


@needs_isolation
def test_paths_under_tmp_stay_visible_beside_the_private_tmp(tmp_path: Path) -> None:
    """A checkout or venv under /tmp (a CI clone) is bound inside the sandbox's own /tmp, not hidden."""
    assert str(tmp_path).startswith("/tmp/")
    with Sandbox(make_host(), limits=FAST, env={"PYTHONPATH": str(tmp_path)}) as sb:
        assert tmp_path.parts[2] in sb.isolation_report["tmp"]
        assert sb.run("print(probe.add(1, b=2))").stdout == "3\n"


def test_the_agent_refuses_to_run_code_where_the_host_cannot_isolate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation.shutil, "which", lambda name: None)
    with pytest.raises(
        SandboxError, match=r"refusing to run model code: bubblewrap .* unsafe_run_code_without"
    ):
        Sandbox(make_host(), limits=FAST).start()
    with Sandbox(make_host(), limits=FAST, isolate=False) as sb:  # the explicit opt-in
        assert sb.run("print(probe.add(1))").stdout == "2.0\n"


class Big(Probe):
    def big(self, value: object = None) -> np.ndarray:
        return np.zeros(50 * 2**20, np.uint8)


@pytest.mark.parametrize(
    ("mode", "status", "message"),
    [
        ("oversized", "crashed", "broke the channel's format"),
        ("garbage", "crashed", "broke the channel's format"),
        ("flood", "crashed", "control messages without waiting"),
        ("deaf", "crashed", "did not read a message within"),
        ("silent", "timeout", "wall-clock limit of 2 s"),
    ],
)
def test_a_child_that_breaks_the_protocol_ends_only_its_own_run(
    monkeypatch: pytest.MonkeyPatch, mode: str, status: str, message: str
) -> None:
    hostile = [sys.executable, "-s", "-P", str(FIXTURES / "hostile.py"), mode]
    monkeypatch.setattr(child, "child_command", lambda env: hostile)
    limits = SandboxLimits(wall_s=2.0, cpu_s=5.0, memory_mb=768, grace_s=0.5, start_s=10.0)
    host = ToolHost({"probe": Big()})
    with Sandbox(host, limits=limits, env={"PYTHONPATH": str(ROOT)}, isolate=False) as sb:
        started = time.monotonic()
        out = sb.run("print(1)")
        assert time.monotonic() - started < 12.0
        assert out.status == status and message in out.error, out
        assert out.restarted


def test_a_child_cannot_forge_events_calls_or_results(monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = [sys.executable, "-s", "-P", str(FIXTURES / "hostile.py"), "forge"]
    monkeypatch.setattr(child, "child_command", lambda env: hostile)
    seen: list[dict] = []
    sb = Sandbox(make_host(), limits=FAST, env={"PYTHONPATH": str(ROOT)}, isolate=False, on_event=seen.append)
    with sb:
        out = sb.run("print(1)")
    assert out.status == "ok" and not out.restarted
    kinds = [e["kind"] for e in out.events]
    assert kinds == ["outcome"]  # the tool_call it claimed is dropped; only outcomes come from the child
    assert out.events[0]["outcome"] == "failed" and len(out.events[0]["reason"]) == 2000
    assert "tool_call" not in [n["kind"] for n in seen]


@pytest.mark.parametrize(
    "code",
    [
        "import json\njson.JSONEncoder.encode = None",  # the classes the worker frames with
        "import json\njson.encoder.c_make_encoder = None",
        "__name__ = 'maestro_agent.trusted'",  # renaming the namespace the audit hook judges by
        "import dataclasses\ndataclasses.sys.modules",  # another module's globals through a library
        "import numpy as np\nnp.ctypeslib",
        "robot = None",  # rebinding a name only changes the code's own namespace
    ],
)
def test_routes_of_the_outside_review_are_refused_or_harmless(code: str) -> None:
    with Sandbox(make_host(), limits=FAST, isolate=not UNAVAILABLE) as sb:
        out = sb.run(code)
        assert out.status in ("violation", "error", "ok"), out
        after = sb.run("print(probe.add(2, b=3))")
        assert (after.status, after.stdout) == ("ok", "5\n"), after
