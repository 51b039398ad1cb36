"""Operating-system isolation of the sandbox child, and the start-up check that it is in place.

The child starts under bubblewrap (``bwrap``) in new PID, network, IPC, UTS and mount namespaces
(plus a user namespace when the agent is not root): its root is an empty tmpfs with the interpreter,
the libraries and Maestro's own packages bound read-only, a private /proc that shows only its own
processes, a minimal /dev, a small private /tmp and no network interface but an unconnected
loopback. It dies with its parent and its whole tree dies with it (the namespace's init). Inside,
the worker sets rlimits, drops to an unprivileged uid (when started as root), sets no_new_privs and
installs a seccomp filter (``seccomp``) before it reports ready; the report lists what it sees and
``check_report`` refuses a child whose layers are not all there.

Where the host cannot do this (no bwrap, user namespaces disabled), ``IsolationUnavailableError`` says
why and how to fix it; running model code without isolation is an explicit opt-in of the caller.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from maestro_agent.sandbox import seccomp

NOBODY = 65534
TMP_BYTES = 16 * 2**20
FIX_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt install bubblewrap; `make setup` does) and allow "
    "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 also "
    "kernel.apparmor_restrict_unprivileged_userns=0), or opt in to running model code without OS "
    "isolation (the agent's unsafe_run_code_without_isolation parameter)"
)


class IsolationUnavailableError(RuntimeError):
    """The host cannot isolate the sandbox child."""


@dataclass(frozen=True)
class Plan:
    """How a child is started: the command prefix and what the worker does to itself."""

    isolated: bool
    prefix: tuple[str, ...]  # prepended to the worker's command line
    drop_to_uid: int | None  # the worker switches to this uid after its imports (started as root)
    seccomp: bool
    tmp_entries: tuple[str, ...] = ()  # in the private /tmp: only the parents of bound paths under /tmp

    def confinement(self) -> dict[str, Any]:
        """What the worker is told to apply to itself (the init message's ``confine``)."""
        return {"drop_to_uid": self.drop_to_uid, "seccomp": self.seccomp, "expect_isolated": self.isolated}


UNISOLATED = Plan(isolated=False, prefix=(), drop_to_uid=None, seccomp=False)


def _read_only_roots(extra: Iterable[str]) -> list[str]:
    """Directories the worker needs to read: the interpreter, the venv, Maestro's packages, PYTHONPATH."""
    import maestro_agent
    import maestro_tools

    paths = {sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))}
    paths |= {os.path.dirname(p) for p in (*maestro_agent.__path__, *maestro_tools.__path__)}
    paths |= {p for p in sys.path if p and os.path.isdir(p)}
    paths |= set(extra)
    paths = {os.path.realpath(p) for p in paths if p and os.path.isdir(p)}
    # Maestro's source tree: its packages only, not the checkout (which may hold .env files, keys).
    for package in (*maestro_agent.__path__, *maestro_tools.__path__):
        paths.discard(os.path.realpath(os.path.dirname(package)))
        paths.add(os.path.realpath(package))
    return sorted(p for p in paths if not any(p != q and p.startswith(q + os.sep) for q in paths))


def _system_binds() -> list[str]:
    args: list[str] = ["--ro-bind", "/usr", "/usr"]
    for top in ("/lib", "/lib64", "/lib32", "/bin", "/sbin"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime"):
        if os.path.exists(name):
            args += ["--ro-bind", name, name]
    return args


def _ancestors(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def bwrap_prefix(bwrap: str, as_root: bool, read_only: Iterable[str]) -> tuple[str, ...]:
    args = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc"]
    args += ["--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox", "--cap-drop", "ALL"]
    if as_root:  # no user namespace: the worker keeps only what it needs to become nobody
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    args += _system_binds()
    # The private /tmp first: a checkout under /tmp (a CI clone) is then bound inside it, not hidden by it.
    args += ["--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    made: set[str] = {"/tmp"}
    for path in read_only:
        if path.startswith("/usr/"):
            continue
        # Parents bwrap would create with the host's modes (/root: 0700) must be traversable by nobody.
        parents = [p for p in _ancestors(path) if p not in made]
        for parent in parents:
            args += ["--perms", "0755", "--dir", parent]
        made.update(parents)
        args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev", "--chdir", "/tmp"]
    return (*args, "--")


@functools.lru_cache(maxsize=4)
def _probe(bwrap: str, as_root: bool) -> str:
    """'' when bwrap can build the namespaces here, else the reason."""
    try:
        done = subprocess.run(
            [*bwrap_prefix(bwrap, as_root, []), "/bin/sh", "-c", "exit 0"],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bwrap could not run: {e}"
    if done.returncode != 0:
        return f"bwrap failed: {done.stderr.decode('utf-8', 'replace').strip()[-300:]}"
    return ""


def plan(extra_read_only: Iterable[str] = ()) -> Plan:
    """The isolated plan on this host, or IsolationUnavailableError saying why and how to fix it."""
    if sys.platform != "linux":
        raise IsolationUnavailableError(
            f"OS isolation needs Linux namespaces; this is {sys.platform}. {FIX_HINT}"
        )
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise IsolationUnavailableError(f"bubblewrap (bwrap) is not installed. To fix: {FIX_HINT}")
    as_root = os.geteuid() == 0
    reason = _probe(bwrap, as_root)
    if reason:
        raise IsolationUnavailableError(f"the host cannot isolate the sandbox ({reason}). To fix: {FIX_HINT}")
    if not seccomp.supported():
        raise IsolationUnavailableError(
            f"no seccomp filter for the {seccomp.machine()} architecture "
            f"(have: {', '.join(seccomp.SYSCALLS)})"
        )
    roots = _read_only_roots(extra_read_only)
    prefix = bwrap_prefix(bwrap, as_root, roots)
    in_tmp = tuple(sorted({p.split("/")[2] for p in roots if p.startswith("/tmp/")}))
    return Plan(True, prefix, NOBODY if as_root else None, True, in_tmp)


def check_report(report: Any, tmp_entries: Iterable[str] = ()) -> list[str]:
    """Layers missing from an isolated child's self-report (empty when all are in place);
    ``tmp_entries``: what the private /tmp holds besides nothing (parents of bound paths)."""
    if not isinstance(report, dict):
        return ["the child sent no isolation report"]
    problems = []
    if report.get("uid") == 0 or report.get("euid") == 0:
        problems.append(f"runs as uid {report.get('uid')}/{report.get('euid')}, not an unprivileged uid")
    if report.get("cap_eff") not in ("0000000000000000", 0):
        problems.append(f"has capabilities {report.get('cap_eff')!r}")
    if report.get("no_new_privs") != 1:
        problems.append("no_new_privs is not set")
    if report.get("seccomp") != 2:
        problems.append("no seccomp filter")
    if report.get("net_devices") != ["lo"]:
        problems.append(
            f"sees network devices {report.get('net_devices')!r} (expected only an unconnected lo)"
        )
    pids, pid = report.get("pids"), report.get("pid")
    if not isinstance(pids, list) or len(pids) > 3 or not isinstance(pid, int) or pid > 3:
        problems.append(f"sees processes {report.get('pids')!r} (expected only its own namespace)")
    if report.get("tmp") != sorted(tmp_entries):
        problems.append(f"/tmp is not a private empty directory: {report.get('tmp')!r}")
    if not report.get("rlimits_set"):
        problems.append("rlimits were not set")
    return problems
