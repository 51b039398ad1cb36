"""A sandbox child that breaks the channel protocol on purpose: ``python hostile.py MODE --fd N``.

It answers the init message as the worker would, then misbehaves in MODE when asked to run code:
``oversized`` announces a 1 GiB frame; ``garbage`` sends bytes that are not a frame; ``flood`` sends
calls without waiting for answers; ``forge`` sends events it may not send, a call for another run and
a result for another run before the real result; ``deaf`` stops reading and floods large frames so
the parent's sends can only time out; ``silent`` never answers the run.
"""

from __future__ import annotations

import os
import struct
import sys
import time

from maestro_agent.sandbox import wire


def send(fd: int, header: dict, blobs: list[bytes] | None = None) -> None:
    data = memoryview(wire.pack(header, blobs))
    while data:
        data = data[os.write(fd, data) :]


def read(fd: int, reader: wire.FrameReader, pending: list[bytes]) -> dict:
    while not pending:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            sys.exit(0)
        pending.extend(reader.feed(chunk))
    return wire.unpack(pending.pop(0))[0]


def main() -> None:
    fd, mode = int(sys.argv[sys.argv.index("--fd") + 1]), sys.argv[1]
    reader, pending = wire.FrameReader(), []
    read(fd, reader, pending)  # init
    send(fd, {"msg": "ready", "pid": os.getpid(), "report": {}})
    while True:
        cmd = read(fd, reader, pending)
        if cmd.get("op") != "run":
            continue
        rid = cmd["id"]
        if mode == "oversized":
            os.write(fd, struct.pack(">I", 2**30) + b"x" * 1000)
        elif mode == "garbage":
            os.write(fd, b"\x00\x00\x00\x05hello")
        elif mode == "flood":
            for i in range(10_000):
                send(fd, {"msg": "call", "id": i, "run": rid, "tool": "probe", "method": "add", "value": {}})
        elif mode == "forge":
            send(fd, {"msg": "event", "data": {"kind": "tool_call", "module": "robot", "function": "fake"}})
            send(fd, {"msg": "event", "data": {"kind": "outcome", "outcome": "pwned", "reason": "x" * 5000}})
            send(fd, {"msg": "call", "id": 1, "run": rid + 7, "tool": "probe", "method": "add", "value": {}})
            send(fd, {"msg": "result", "id": rid + 7, "status": "ok"})
            send(fd, {"msg": "call", "id": 2, "run": rid, "tool": "os", "method": "system", "value": {}})
            send(fd, {"msg": "result", "id": rid, "status": "ok", "error": "", "stdout_dropped": 0})
        elif mode == "deaf":
            for i in range(20):  # calls whose large answers it never reads
                args = {"args": [{"$nd": [0, 0], "dtype": "uint8", "shape": [0]}], "kwargs": {}}
                send(
                    fd, {"msg": "call", "id": i, "run": rid, "tool": "probe", "method": "big", "value": args}
                )
            time.sleep(60)
        elif mode == "silent":
            time.sleep(60)


if __name__ == "__main__":
    main()
