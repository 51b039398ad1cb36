"""In-process fake servers for tests: bound to 127.0.0.1 on a free port, recording every request."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON (or the raw text if it was not JSON)


@dataclass(frozen=True)
class Canned:
    """One queued answer: a status and a JSON body, or ``drop`` to close the connection unanswered."""

    status: int = 200
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False


class FakeHTTPServer:
    """Answers POSTs with queued Canned answers (a default answer once the queue is empty).

    Subclasses build the canned bodies of one API. Use as a context manager; ``url`` is the base URL.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Canned] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> FakeHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def queue(self, *answers: Canned) -> None:
        with self._lock:
            self._queue.extend(answers)

    def default_answer(self) -> Canned:
        return Canned(500, {"error": {"code": 500, "message": "fake server: no answer queued"}})

    def _next(self, request: RecordedRequest) -> Canned:
        with self._lock:
            self.requests.append(request)
            return self._queue.popleft() if self._queue else self.default_answer()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                headers = {name.lower(): value for name, value in self.headers.items()}
                answer = fake._next(RecordedRequest("POST", self.path, headers, body))
                if answer.drop:
                    self.close_connection = True
                    return
                out = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
