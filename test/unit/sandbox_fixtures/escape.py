"""Escape attempts from a sandbox child whose Python-level guards are assumed bypassed.

Run as ``python escape.py CONFINE_JSON TARGETS_JSON`` under the isolation plan's command prefix: it
confines itself exactly as the worker does, then tries, with full Python, what a compromised child
would: each attempt's outcome ("blocked: ..." or "ESCAPED: ...") is printed as one JSON object.
"""

from __future__ import annotations

import json
import mmap
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from maestro_agent.sandbox.confine import confine


def attempt(results: dict[str, str], name: str, action) -> None:  # type: ignore[no-untyped-def]
    try:
        outcome = action()
        results[name] = f"ESCAPED: {outcome!r}"[:300]
    except BaseException as e:  # every way of failing counts as blocked
        results[name] = f"blocked: {type(e).__name__}: {e}"[:300]


def main() -> None:
    settings, targets = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    confine(settings, memory_mb=512)
    results: dict[str, str] = {}
    parent, port, secret_file = targets["parent_pid"], targets["port"], targets["secret_file"]

    def write_outside() -> str:
        with open(targets["write_target"], "w") as f:
            f.write("pwned")
        return "wrote"

    def read_secret() -> str:
        with open(secret_file) as f:
            return f.read()

    def parent_environ() -> bytes:
        with open(f"/proc/{parent}/environ", "rb") as f:
            return f.read()[:50]

    def parent_memory() -> bytes:
        with open(f"/proc/{parent}/mem", "rb") as f:
            return f.read(8)

    def connect() -> str:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"hello from the sandbox")
        return "connected"

    def shell() -> str:
        return subprocess.run(["/bin/sh", "-c", "echo shell"], capture_output=True, timeout=5).stdout.decode()

    def fork() -> int:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        return pid

    def signal_parent() -> str:
        os.kill(parent, 0)
        return "parent reachable"

    def big_file() -> int:
        with open("/tmp/big", "wb") as f:
            for _ in range(64):
                f.write(b"\0" * 2**20)
        return os.path.getsize("/tmp/big")

    def shared_memory() -> int:
        region = mmap.mmap(-1, 2 * 2**30, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
        region[-1] = 1
        return len(region)

    def thread_bomb() -> int:
        threads = [threading.Thread(target=time.sleep, args=(5,), daemon=True) for _ in range(400)]
        for t in threads:
            t.start()
        return len(threads)

    def ptrace() -> int:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.ptrace(16, parent, 0, 0) != 0:  # PTRACE_ATTACH
            raise OSError(ctypes.get_errno(), "ptrace failed")
        return 0

    def new_user_namespace() -> str:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
            raise OSError(ctypes.get_errno(), "unshare failed")
        return "unshared"

    def ros_publish() -> str:
        import rclpy
        from std_msgs.msg import String

        rclpy.init()
        node = rclpy.create_node("sandbox_escape")
        node.create_publisher(String, "/maestro/cmd", 10).publish(String(data="move"))
        return "published"

    def list_processes() -> list[str]:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
        if len(pids) > 3 or str(parent) in pids:
            return pids
        raise PermissionError(f"only its own namespace's processes: {pids}")

    for name, action in [
        ("write_outside", write_outside), ("read_secret", read_secret), ("parent_environ", parent_environ),
        ("parent_memory", parent_memory), ("connect_localhost", connect), ("shell", shell), ("fork", fork),
        ("signal_parent", signal_parent), ("big_file", big_file), ("shared_memory", shared_memory),
        ("thread_bomb", thread_bomb), ("ptrace_parent", ptrace), ("user_namespace", new_user_namespace),
        ("list_processes", list_processes), ("ros_publish", ros_publish),
    ]:  # fmt: skip
        attempt(results, name, action)
    print(json.dumps(results), flush=True)
    signal.alarm(0)


if __name__ == "__main__":
    main()
