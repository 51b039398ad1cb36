"""The trace dashboard: a small stdlib HTTP server with a JSON API over a trace store and static pages.

Every request opens the store for itself (read-only, short-lived), so an agent may keep recording while
the dashboard serves; a bad store, unknown trial or missing image is answered with a JSON error and the
server goes on serving.

API: ``/api/trials``, ``/api/trials/<id>[?since=<t>]`` (with its video frames),
``/api/analytics?task_type=&vla=yes|no``, ``/images/<trial>/<file>`` (images and video frames),
``/export/analytics.csv`` and ``/export/analytics.png`` (same filters).
Pages: ``/`` (trials), ``/trial?id=<id>`` (replay), ``/analytics``.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from maestro_agent.traces import analytics
from maestro_agent.traces.store import has_column, has_table, open_database
from maestro_tools.common.errors import InvalidArgumentError, NotFoundError

log = logging.getLogger(__name__)
WEB = Path(__file__).with_name("web")
PAGES = {"/": "index.html", "/trial": "trial.html", "/analytics": "analytics.html"}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".csv": "text/csv; charset=utf-8",
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# Rows are stamped when enqueued and committed in batches a little later; a poll with ?since=<t> gets
# every row stamped after t - OVERLAP_S, and the page merges them by id, so none is missed.
OVERLAP_S = 5.0
STALE_S = 120.0  # a trial without an end and without a new event for this long is shown as unfinished
# Outcomes (maestro_agent.loop.OUTCOMES): success, failed, budget_exhausted, cancelled, vlm_error,
# unusable_reply, error, interrupted (its agent died; marked when an agent next opens the store);
# a trial without an end is running, or unfinished once stale.
TRIAL_KEYS = (
    "id",
    "instruction",
    "task_type",
    "started",
    "ended",
    "success",
    "progress",
    "substeps",
    "replans",
)
TRIAL_KEYS += ("vlm", "harness", "calls", "failed_calls", "last_event", "outcome", "reason", "summary")
FIND_IDS = "the trial list at / or GET /api/trials shows the ids (so does `maestro analytics --store DIR`)"


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"raw": text}


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def parse_vla(value: str) -> bool | None:
    """'' / any -> None, yes -> True, no -> False (also true/false/1/0)."""
    value = value.strip().lower()
    if value in ("", "any", "all"):
        return None
    if value in ("yes", "true", "1"):
        return True
    if value in ("no", "false", "0"):
        return False
    raise InvalidArgumentError(f"vla must be yes, no or any, not {value!r}")


class Dashboard:
    """The queries behind the API; each opens and closes its own connection."""

    def __init__(self, store_root: Path | str) -> None:
        self.root = Path(store_root).expanduser().resolve()

    def connect(self) -> sqlite3.Connection:
        try:
            db = open_database(self.root / "traces.db")
        except NotFoundError as exc:
            raise HttpError(503, f"{exc}: no trial recorded yet, or the wrong --store folder") from None
        except InvalidArgumentError as exc:
            raise HttpError(503, str(exc)) from None
        db.execute("PRAGMA query_only = 1")
        return db

    def trials(self) -> list[dict[str, Any]]:
        db = self.connect()
        try:
            # stores written before trials had outcome and reason columns show success/failed
            ended = "tr.outcome, tr.reason" if has_column(db, "trials", "outcome") else "NULL, NULL"
            rows = db.execute(
                "SELECT tr.id, tr.instruction, tr.task_type, tr.started, tr.ended, tr.success, tr.progress, "
                "tr.substeps, tr.replans, tr.vlm, tr.harness, coalesce(c.n, 0), coalesce(c.failed, 0), "
                f"(SELECT max(t) FROM events e WHERE e.trial_id = tr.id), {ended}, tr.summary "
                "FROM trials tr LEFT JOIN (SELECT trial_id, count(*) AS n, sum(success = 0) AS failed "
                "FROM tool_calls WHERE depth = 0 GROUP BY trial_id) c ON c.trial_id = tr.id "
                "ORDER BY tr.started DESC, tr.id"
            ).fetchall()
        finally:
            db.close()
        now, out = time.time(), []
        for row in rows:
            item = dict(zip(TRIAL_KEYS, row, strict=True))
            if item["ended"] is not None:
                item["outcome"] = item["outcome"] or ("success" if item["success"] else "failed")
            else:  # running while it still records, else killed or crashed midway
                recent = now - max(item["started"], item["last_event"] or 0) < STALE_S
                item["outcome"] = "running" if recent else "unfinished"
            item["duration"] = (item["ended"] or now) - item["started"]
            out.append(item)
        return out

    def trial(self, trial_id: str, since: float | None = None) -> dict[str, Any]:
        """The trial's row and its timeline (rows stamped after ``since - OVERLAP_S`` when given)."""
        db = self.connect()
        try:
            cursor = db.execute("SELECT * FROM trials WHERE id = ?", (trial_id,))
            row = cursor.fetchone()
            if row is None:
                raise HttpError(404, f"no trial {trial_id!r} in {self.root}: {FIND_IDS}")
            trial = dict(zip([c[0] for c in cursor.description], row, strict=True))
            if trial["ended"] is not None and not trial.get("outcome"):
                trial["outcome"] = "success" if trial["success"] else "failed"
            after = -1.0 if since is None else since - OVERLAP_S
            args = (trial_id, after)
            events = db.execute(
                "SELECT id, t, kind, substep, subtask, line, data FROM events WHERE trial_id = ? AND t > ? "
                "ORDER BY t, id",
                args,
            ).fetchall()
            calls = db.execute(
                "SELECT id, t, substep, line, module, function, category, arguments, duration, success, "
                "error_code, message, depth FROM tool_calls WHERE trial_id = ? AND t > ? ORDER BY t, id",
                args,
            ).fetchall()
            images = db.execute(
                "SELECT id, t, substep, label, path FROM images WHERE trial_id = ? AND t > ? ORDER BY t, id",
                args,
            ).fetchall()
            video = []
            if has_table(db, "video_frames"):  # stores written before videos have none
                video = db.execute(
                    "SELECT id, t, substep, path FROM video_frames WHERE trial_id = ? AND t > ? "
                    "ORDER BY t, id",
                    args,
                ).fetchall()
        finally:
            db.close()
        event_keys = ("id", "t", "kind", "substep", "subtask", "line")
        call_keys = ("id", "t", "substep", "line", "module", "function", "category", "arguments", "duration")
        call_keys += ("success", "error_code", "message", "depth")
        timeline = [{**dict(zip(event_keys, e[:6], strict=True)), "data": _json(e[6])} for e in events]
        return {
            "trial": trial,
            "since": since,
            "now": time.time(),
            "events": timeline,
            "tool_calls": [dict(zip(call_keys, c, strict=True)) for c in calls],
            "images": [
                {"id": i, "t": t, "substep": s, "label": label, "path": p, "url": "/images/" + quote(p)}
                for i, t, s, label, p in images
            ],
            # The scene camera's video frames (thinned in a long trial: a dropped frame's file is gone).
            "video": [
                {"id": i, "t": t, "substep": s, "path": p, "url": "/images/" + quote(p)}
                for i, t, s, p in video
            ],
            # The code of each substep (of those in this response).
            "code": {str(e["substep"]): e["data"].get("code", "") for e in timeline if e["kind"] == "code"},
        }

    def analytics(self, query: dict[str, str]) -> analytics.Analytics:
        vla = parse_vla(query.get("vla", ""))
        db = self.connect()
        try:
            return analytics.compute(db, query.get("task_type", ""), vla)
        finally:
            db.close()

    def image(self, relative: str) -> Path:
        """The image file for /images/<relative>, refused unless it is an image inside the store root."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root) or path.suffix.lower() not in IMAGE_SUFFIXES:
            raise HttpError(404, f"/images/{relative} is not an image of this store")
        if not path.is_file():
            raise HttpError(404, f"image file missing: {relative} (deleted or never written)")
        return path


class Handler(BaseHTTPRequestHandler):
    server_version = "MaestroDashboard/1"
    dashboard: Dashboard  # set on the subclass made by make_server

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            try:
                self._route(unquote(url.path), query)
            except HttpError as exc:
                self._send_json({"error": str(exc), "status": exc.status}, exc.status)
            except (InvalidArgumentError, ValueError) as exc:
                self._send_json({"error": str(exc), "status": 400}, 400)
            except (BrokenPipeError, ConnectionResetError):
                raise
            except Exception as exc:
                log.exception("dashboard: %s failed", self.path)
                self._send_json({"error": f"{type(exc).__name__}: {exc}", "status": 500}, 500)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away (navigated, closed); nothing to answer

    def _route(self, path: str, query: dict[str, str]) -> None:
        d = self.dashboard
        if path in PAGES:
            self._send_file(WEB / PAGES[path])
        elif path.startswith("/static/"):
            name = path[len("/static/") :]
            if "/" in name or name.startswith(".") or not (WEB / name).is_file():
                raise HttpError(404, f"no static file {name!r}")
            self._send_file(WEB / name)
        elif path == "/api/trials":
            self._send_json({"store": str(d.root), "trials": d.trials()})
        elif path.startswith("/api/trials/"):
            since = float(query["since"]) if query.get("since") else None
            self._send_json(d.trial(path[len("/api/trials/") :], since))
        elif path == "/api/analytics":
            self._send_json(d.analytics(query).to_json())
        elif path.startswith("/images/"):  # written once under unique names: the browser may keep them
            self._send_file(d.image(path[len("/images/") :]), cache="private, max-age=3600")
        elif path == "/export/analytics.csv":
            self._send(analytics.to_csv(d.analytics(query)).encode(), TYPES[".csv"], "analytics.csv")
        elif path == "/export/analytics.png":
            self._send(analytics.render_png(d.analytics(query)), TYPES[".png"], "analytics.png")
        else:
            raise HttpError(404, f"no page {path!r}: try /, /analytics or /api/trials")

    def _send(
        self, body: bytes, content_type: str, download: str = "", status: int = 200, cache: str = "no-store"
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if download:
            self.send_header("Content-Disposition", f'attachment; filename="{download}"')
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, payload: Any, status: int = 200) -> None:
        try:
            text = json.dumps(payload, default=str, allow_nan=False)
        except ValueError:  # NaN/inf somewhere (a progress, a tool's value): JSON has no such numbers
            text = json.dumps(_finite(payload), default=str)
        self._send(text.encode(), "application/json", status=status)

    def _send_file(self, path: Path, cache: str = "no-store") -> None:
        if not path.is_file():  # a page or script: the package was installed without its web/ folder
            raise HttpError(500, f"dashboard file missing: {path} (reinstall maestro with its web assets)")
        try:
            body = path.read_bytes()
        except FileNotFoundError:  # deleted since the check (a thinned video frame)
            raise HttpError(404, f"image file missing: {path.name} (deleted meanwhile)") from None
        self._send(body, TYPES.get(path.suffix.lower(), "application/octet-stream"), cache=cache)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("dashboard: " + format, *args)


def make_server(store_root: Path | str, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """A server bound to host:port (0: any free port) serving the store at ``store_root``."""
    root = Path(store_root).expanduser()
    if not root.is_dir():
        raise NotFoundError(f"no trace store folder {root}: pass --store DIR or set MAESTRO_TRACE_DIR")
    handler = type("BoundHandler", (Handler,), {"dashboard": Dashboard(root)})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        message = f"cannot listen on {host}:{port} ({exc.strerror}): try another --port"
        raise InvalidArgumentError(message) from None
    server.daemon_threads = True
    return server


def serve(store_root: Path | str, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the dashboard until interrupted (Ctrl-C)."""
    server = make_server(store_root, host, port)
    url = f"http://{host}:{server.server_address[1]}/"
    print(f"maestro dashboard: {url} (store {Path(store_root).expanduser()}); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
