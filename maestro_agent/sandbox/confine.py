"""What the sandbox child does to itself before it runs submitted code, and what it then reports.

Runs in the child after its imports: rlimits (address space, open files, file size, processes, no
core dumps), a switch to an unprivileged uid when it was started as root inside bubblewrap's
namespaces, and the seccomp filter (which sets no_new_privs). ``self_report`` is what the parent
checks (``isolation.check_report``) before it accepts the child.
"""

from __future__ import annotations

import os
import resource
from typing import Any

from maestro_agent.sandbox import seccomp


def confine(settings: dict[str, Any], memory_mb: int) -> dict[str, Any]:
    """Limit this process, drop privileges and filter syscalls; what it then sees, for the parent."""
    limits = {
        resource.RLIMIT_NOFILE: 64,
        resource.RLIMIT_FSIZE: 16 * 2**20,
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_NPROC: 256,
    }
    if memory_mb > 0:  # address space: counts shared mappings too (the child holds no ROS node)
        limits[resource.RLIMIT_AS] = memory_mb * 2**20
    for which, value in limits.items():
        resource.setrlimit(which, (value, value))
    uid = settings.get("drop_to_uid")
    if isinstance(uid, int):
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    if settings.get("seccomp"):
        seccomp.install()
    return self_report()


def self_report() -> dict[str, Any]:
    status: dict[str, str] = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    with open("/proc/net/dev") as f:
        devices = sorted(line.split(":")[0].strip() for line in f.readlines()[2:])
    return {
        "uid": os.getuid(),
        "euid": os.geteuid(),
        "pid": os.getpid(),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "cap_eff": status.get("CapEff"),
        "no_new_privs": int(status.get("NoNewPrivs", "0")),
        "seccomp": int(status.get("Seccomp", "0")),
        "net_devices": devices,
        "tmp": sorted(os.listdir("/tmp"))[:20],
        "rlimits_set": True,
    }
