"""A CAN bus served over TCP with socketcand's ASCII protocol (raw mode), on 127.0.0.1 only (plain Python).

socketcand (linux-can/socketcand) exposes a host's CAN interfaces over TCP; python-can's ``socketcand``
interface is its client. Here the bus is virtual: frames one client sends reach every other client and the
simulated device (``on_frame``), and the device's frames reach every client, as on a CAN wire where each
socket sees the others' frames (SocketCAN's default loopback). It stands in for ``vcan``, which needs a
kernel module this machine does not have, and works across processes.

The subset served: ``< hi >``; ``< open CHANNEL >`` -> ``< ok >``; ``< rawmode >`` -> ``< ok >``; then
``< send ID LEN B0 B1 ... >`` from a client and ``< frame ID SECONDS.USEC HEXDATA >`` to it. A client that
stops reading loses frames (bounded queue), like a CAN socket whose receive buffer is full.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable

HOST = "127.0.0.1"
QUEUE_FRAMES = 2000  # frames buffered per client before the oldest news is dropped
RAWMODE_GRACE = 0.05  # s between the raw-mode "< ok >" and the first frame (the client reads it alone)


def encode_frame(can_id: int, data: bytes, stamp: float) -> bytes:
    """A frame as socketcand sends it to a client (11-bit ids as 3 hex digits, 29-bit as 8)."""
    ident = f"{can_id:03X}" if can_id <= 0x7FF else f"{can_id:08X}"
    return f"< frame {ident} {stamp:.6f} {data.hex().upper()} >".encode("ascii")


def decode_send(message: str) -> tuple[int, bytes] | None:
    """(id, data) of a client's ``< send ID LEN B0 ... >``; None for anything else."""
    parts = message.strip("<> ").split()
    if len(parts) < 3 or parts[0] != "send":
        return None
    try:
        can_id, length = int(parts[1], 16), int(parts[2], 16)
        data = bytes(int(b, 16) for b in parts[3 : 3 + length])
    except ValueError:
        return None
    return (can_id, data) if len(data) == length <= 8 else None


class _Client:
    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.outbox: queue.Queue[bytes | None] = queue.Queue(QUEUE_FRAMES)
        self.alive = True

    def post(self, payload: bytes) -> None:
        with contextlib.suppress(queue.Full):  # a full receive buffer drops frames
            self.outbox.put_nowait(payload)

    def write_loop(self) -> None:
        while self.alive:
            payload = self.outbox.get()
            if payload is None:
                break
            try:
                self.connection.sendall(payload)
            except OSError:
                break
        self.alive = False


class SocketcandServer:
    """One CAN channel on ``127.0.0.1:port``; ``on_frame(id, data)`` runs in the sending client's thread."""

    def __init__(self, port: int, channel: str, on_frame: Callable[[int, bytes], None]) -> None:
        self.channel, self.on_frame = channel, on_frame
        self._listener = socket.create_server((HOST, port))
        self.port = int(self._listener.getsockname()[1])
        self._clients: list[_Client] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept_loop, name="socketcand", daemon=True).start()

    def send(self, can_id: int, data: bytes) -> None:
        """The device's frame, to every client."""
        self._broadcast(encode_frame(can_id, data, time.time()), None)

    def _broadcast(self, payload: bytes, sender: _Client | None) -> None:
        with self._lock:
            clients = [c for c in self._clients if c is not sender and c.alive]
        for client in clients:
            client.post(payload)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.alive = False
            client.post(None)
            client.connection.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        client, buffer = _Client(connection), ""
        try:
            connection.sendall(b"< hi >")
            while not self._closed:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                buffer += chunk.decode("ascii", errors="replace")
                while ">" in buffer:
                    start, end = buffer.find("<"), buffer.find(">")
                    message, buffer = buffer[max(start, 0) : end + 1], buffer[end + 1 :]
                    self._handle(client, message)
        except OSError:
            pass
        finally:
            client.alive = False
            client.post(None)
            with self._lock:
                if client in self._clients:
                    self._clients.remove(client)
            connection.close()

    def _handle(self, client: _Client, message: str) -> None:
        words = message.strip("<> ").split()
        if not words:
            return
        if words[0] == "open":
            ok = len(words) == 2 and words[1] == self.channel
            reply = "< ok >" if ok else f"< error unknown channel; this server offers {self.channel} >"
            client.connection.sendall(reply.encode("ascii"))
        elif words[0] == "rawmode":
            client.connection.sendall(b"< ok >")
            time.sleep(RAWMODE_GRACE)
            threading.Thread(target=client.write_loop, daemon=True).start()
            with self._lock:
                self._clients.append(client)
        elif words[0] == "send":
            frame = decode_send(message)
            if frame is not None:
                self._broadcast(encode_frame(*frame, time.time()), client)
                self.on_frame(*frame)
