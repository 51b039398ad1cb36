"""A synchronous client of an openpi policy server (openpi's own server, vLLM-Omni, ``server.py``).

    with PolicyClient("ws://127.0.0.1:8000") as policy:
        print(policy.metadata)
        actions = policy.infer(observation)["actions"]  # (horizon, action_dim)

The server sends its metadata first; then each observation frame gets one action frame. A TEXT frame
instead is the server's error (PolicyServerError, carrying the text); a refused, dropped or silent
connection is PolicyConnectionError / PolicyTimeoutError naming the URL. ``healthz`` asks the HTTP
``GET /healthz`` of the same host and port. The URL may carry a path (vLLM-Omni serves the protocol at
``/v1/realtime/robot/openpi``); ``host:port`` alone means ``ws://host:port``.
"""

from __future__ import annotations

import contextlib
import http.client
import inspect
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from maestro_tools.common.errors import InvalidArgumentError
from maestro_tools.vla.errors import (
    PolicyConnectionError,
    PolicyProtocolError,
    PolicyServerError,
    PolicyTimeoutError,
)
from maestro_tools.vla.protocol import decode_map, encode

OPENPI_PATH = "/v1/realtime/robot/openpi"  # where vLLM-Omni serves the protocol; openpi serves "/"
# websockets >= 15 honours proxy environment variables unless told not to: a policy server is reached
# directly, never through a proxy.
_NO_PROXY = {"proxy": None} if "proxy" in inspect.signature(connect).parameters else {}


def normalise_url(url: str) -> str:
    """``ws://`` or ``wss://`` URL with a path ("/" when none); ``host:port`` gets ``ws://``."""
    text = url.strip()
    if "://" not in text:
        text = "ws://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise InvalidArgumentError(
            f"policy server URL {url!r} is not ws://host:port[/path] or wss://host:port[/path] (e.g. "
            f"ws://127.0.0.1:8000 or ws://127.0.0.1:8000{OPENPI_PATH})"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"


class PolicyClient:
    """One connection to a policy server; not thread-safe (one caller at a time)."""

    def __init__(
        self, url: str, *, connect_timeout: float = 5.0, infer_timeout: float = 10.0, connect_now: bool = True
    ) -> None:
        if connect_timeout <= 0 or infer_timeout <= 0:
            raise InvalidArgumentError("connect_timeout and infer_timeout must be > 0 s")
        self.url = normalise_url(url)
        self.connect_timeout, self.infer_timeout = connect_timeout, infer_timeout
        self.metadata: dict[str, Any] = {}
        self.last_latency: float | None = None  # s, the last infer's round trip
        self.last_server_timing: dict[str, Any] | None = None  # the last reply's ``server_timing``
        self.calls = 0
        self._ws: ClientConnection | None = None
        if connect_now:
            self.connect()

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def connect(self) -> dict[str, Any]:
        """Open the connection and read the server's metadata frame; returns the metadata."""
        self.close()
        try:
            ws = connect(
                self.url,
                open_timeout=self.connect_timeout,
                compression=None,
                max_size=None,
                ping_interval=None,
                close_timeout=1.0,
                **_NO_PROXY,
            ).__enter__()  # websockets >= 17 warns about a connection not opened as a context manager
        except (InvalidHandshake, InvalidURI) as exc:
            raise PolicyConnectionError(
                self.url,
                f"the WebSocket handshake failed ({_reason(exc)}); check the URL's host, port and path",
            ) from None
        except (OSError, TimeoutError) as exc:
            raise PolicyConnectionError(
                self.url, f"cannot connect ({_reason(exc)}); is the server running?"
            ) from None
        self._ws = ws
        self.metadata = decode_map(self._receive("the metadata", self.connect_timeout), "metadata")
        return self.metadata

    def infer(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        """The server's reply to ``observation`` (a dict with an ``actions`` array, usually)."""
        if self._ws is None:
            raise PolicyConnectionError(self.url, "not connected (the connection was closed); connect again")
        frame = encode(dict(observation))
        started = time.monotonic()
        try:
            self._ws.send(frame)
        except ConnectionClosed as exc:
            self._drop()
            raise PolicyConnectionError(self.url, f"the server is gone ({_closed(exc)})") from None
        except OSError as exc:
            self._drop()
            raise PolicyConnectionError(self.url, f"the server is gone ({_reason(exc)})") from None
        reply = decode_map(self._receive("an action reply", self.infer_timeout), "action reply")
        self.last_latency = time.monotonic() - started
        timing = reply.get("server_timing")
        self.last_server_timing = dict(timing) if isinstance(timing, Mapping) else None
        self.calls += 1
        return reply

    def _receive(self, what: str, timeout: float) -> bytes:
        assert self._ws is not None
        try:
            message = self._ws.recv(timeout=timeout)
        except TimeoutError:
            self._drop()  # a late reply would answer the next observation: start afresh
            raise PolicyTimeoutError(
                self.url, f"{what} did not come within {timeout:g} s; the connection was closed"
            ) from None
        except ConnectionClosed as exc:
            self._drop()
            raise PolicyConnectionError(
                self.url, f"the server is gone before {what} ({_closed(exc)})"
            ) from None
        except OSError as exc:
            self._drop()
            raise PolicyConnectionError(self.url, f"the server is gone ({_reason(exc)})") from None
        if isinstance(message, str):
            self._drop()  # openpi's server closes the connection after an error frame
            raise PolicyServerError(self.url, message)
        try:
            return bytes(message)
        except TypeError:
            raise PolicyProtocolError(f"{self.url} sent a {type(message).__name__}, not a frame") from None

    def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to tell
                ws.close()

    def close(self) -> None:
        self._drop()

    def __enter__(self) -> PolicyClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def healthz(self, timeout: float = 2.0) -> bool:
        """True when ``GET /healthz`` on the server's host and port answers 200; PolicyConnectionError when
        nothing answers, False for another status."""
        return healthz(self.url, timeout)


def healthz(url: str, timeout: float = 2.0) -> bool:
    """``GET /healthz`` at the host and port of the policy server ``url`` (no proxy): True for 200."""
    parts = urlsplit(normalise_url(url))
    kind = http.client.HTTPSConnection if parts.scheme == "wss" else http.client.HTTPConnection
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    connection = kind(parts.hostname or "", port, timeout=timeout)
    try:
        connection.request("GET", "/healthz")
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        raise PolicyConnectionError(normalise_url(url), f"GET /healthz failed ({_reason(exc)})") from None
    finally:
        connection.close()
    return status == 200


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


def _closed(exc: ConnectionClosed) -> str:
    frame = exc.rcvd
    if frame is None:
        return "the connection dropped without a close frame"
    return f"closed with code {frame.code}" + (f": {frame.reason}" if frame.reason else "")
