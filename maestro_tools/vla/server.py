"""A small policy server speaking the openpi protocol, for any ``Policy`` (``metadata`` + ``infer``).

    with PolicyServer(my_policy, port=8000) as server:  # 127.0.0.1 unless told otherwise
        ...                                             # clients connect to server.url

Each connection gets the metadata frame first, then one action frame per observation frame; the
reply carries ``server_timing`` (``infer_ms``); a policy with a ``reset()`` is reset for each new
connection. A policy that raises gets its traceback back as a TEXT frame and the connection is closed
(code 1011), as openpi's server does. ``GET /healthz`` answers 200;
the protocol is served at ``/`` and at ``/v1/realtime/robot/openpi``; other paths get 404. Calls to
``infer`` are serialised (policies are rarely thread-safe); connections are served in threads.
"""

from __future__ import annotations

import http
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.vla.client import OPENPI_PATH
from maestro_tools.vla.errors import PolicyProtocolError
from maestro_tools.vla.protocol import decode_map, encode

INTERNAL_ERROR = 1011  # WebSocket close code: the server hit an unexpected condition


class Policy(Protocol):
    """What the server serves: a metadata dict (sent first) and ``infer(observation) -> reply``."""

    @property
    def metadata(self) -> Mapping[str, Any]: ...

    def infer(self, observation: dict[str, Any]) -> dict[str, Any]: ...


def _reset(policy: Policy) -> None:
    """A new client starts afresh: the policy's ``reset()`` when it has one (as openpi's policies do)."""
    reset = getattr(policy, "reset", None)
    if callable(reset):
        reset()


class PolicyServer:
    """Serves ``policy`` on ``host``:``port`` (0 = a free port) in a background thread once started."""

    def __init__(
        self,
        policy: Policy,
        host: str = "127.0.0.1",
        port: int = 8000,
        paths: Sequence[str] = ("/", OPENPI_PATH),
    ) -> None:
        if not 0 <= port <= 65535:
            raise InvalidArgumentError(f"port must be in 0..65535, got {port}")
        self.policy, self.host, self.paths = policy, host, tuple(paths)
        self._requested_port, self._port = port, port
        self._lock = threading.Lock()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.served = 0  # observations answered

    @property
    def port(self) -> int:
        if self._server is None and self._port == 0:
            raise InvalidArgumentError("the policy server is not started")
        return self._port  # the last bound port after a stop

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self) -> PolicyServer:
        if self._server is None:
            self._server = serve(
                self._serve,
                self.host,
                self._requested_port,
                compression=None,
                max_size=None,
                ping_interval=None,
                process_request=self._http,
            )
            self._port = int(self._server.socket.getsockname()[1])
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="policy-server", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for a command-line server)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def __enter__(self) -> PolicyServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        """Plain HTTP before the WebSocket handshake: /healthz, and 404 for paths not served."""
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        if path not in self.paths:
            served = ", ".join(self.paths)
            return connection.respond(
                http.HTTPStatus.NOT_FOUND, f"not found; the policy is served at {served}\n"
            )
        if "upgrade" not in request.headers.get("Connection", "").lower():
            return Response(
                http.HTTPStatus.UPGRADE_REQUIRED, "Upgrade Required", Headers(), b"WebSocket only\n"
            )
        return None

    def _serve(self, connection: ServerConnection) -> None:
        try:
            with self._lock:
                _reset(self.policy)
            connection.send(encode(dict(self.policy.metadata)))
            while True:
                message = connection.recv()
                try:
                    reply = self._answer(message)
                except Exception:
                    connection.send(traceback.format_exc())
                    connection.close(INTERNAL_ERROR, "internal error; the traceback is in the previous frame")
                    return
                connection.send(encode(reply))
        except ConnectionClosed:
            return

    def _answer(self, message: str | bytes) -> dict[str, Any]:
        if isinstance(message, str):
            raise PolicyProtocolError("observations are binary msgpack frames, not text")
        observation = decode_map(message, "observation")
        started = time.monotonic()
        with self._lock:
            reply = dict(self.policy.infer(observation))
        timing = dict(reply.get("server_timing") or {})
        timing["infer_ms"] = (time.monotonic() - started) * 1000.0
        reply["server_timing"] = timing
        self.served += 1
        return reply
