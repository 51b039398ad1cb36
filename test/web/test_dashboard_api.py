"""The dashboard's JSON API over HTTP (no browser): timelines, polling, and bad input that never stops it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import urllib.error
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from maestro_agent.traces.dashboard import make_server
from maestro_agent.traces.store import TraceStore
from maestro_tools.common.errors import InvalidArgumentError, NotFoundError
from test.web.cdp import NO_PROXY
from test.web.conftest import T0, video_colour


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with NO_PROXY.open(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def get_json(url: str) -> tuple[int, dict]:
    status, kind, body = get(url)
    assert kind == "application/json"
    return status, json.loads(body)


@pytest.fixture(scope="module")
def base(trial_store: Path, serve_store: Callable[[Path], str]) -> str:
    return serve_store(trial_store)


def test_the_timeline_of_a_trial(base: str) -> None:
    status, body = get_json(base + "/api/trials/replay1")
    assert status == 200 and body["trial"]["success"] == 1
    kinds = [e["kind"] for e in body["events"]]
    assert kinds.count("line") == 7 and kinds.count("code") == 2 and "judgement" in kinds
    assert [c["depth"] for c in body["tool_calls"]].count(1) == 1
    assert body["code"]["2"].startswith("ball = perception.detect")
    assert [i["label"] for i in body["images"]] == [
        "scene camera",
        "detections",
        "scene camera",
        "scene camera",
    ]
    status, kind, data = get(base + body["images"][1]["url"])
    assert (status, kind) == (200, "image/jpeg")
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (96, 128, 3)
    # polling: rows stamped after since - 5 s come back (the page merges them by id)
    _, later = get_json(base + f"/api/trials/replay1?since={T0 + 7.0}")
    assert min(e["t"] for e in later["events"]) > T0 + 2.0 and len(later["events"]) < len(body["events"])


def test_the_video_frames_of_a_trial_are_listed_and_served(base: str) -> None:
    _, body = get_json(base + "/api/trials/replay1")
    video = body["video"]
    assert [round(f["t"] - T0, 3) for f in video] == [0.5 * k for k in range(17)]
    assert [f["substep"] for f in video] == [0] * 3 + [1] * 6 + [2] * 8
    for k in (0, 16):
        with NO_PROXY.open(base + video[k]["url"], timeout=10) as response:
            headers, data = response.headers, response.read()
        assert headers["Content-Type"] == "image/jpeg" and "max-age" in headers["Cache-Control"]
        frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert frame.shape == (360, 480, 3)  # 640x480 downscaled
        expected = video_colour(k)[::-1]  # BGR
        assert np.abs(frame[180, 240].astype(int) - expected).max() <= 6, (k, frame[180, 240])
    _, later = get_json(base + f"/api/trials/replay1?since={T0 + 7.0}")  # a poll: the newer frames
    assert [round(f["t"] - T0, 3) for f in later["video"]] == [2.5 + 0.5 * k for k in range(12)]


def test_bad_requests_get_json_errors_and_the_server_keeps_serving(base: str, trial_store: Path) -> None:
    status, body = get_json(base + "/api/trials/nope")
    assert status == 404 and "no trial 'nope'" in body["error"] and "/api/trials" in body["error"]
    for path in (
        "/images/../traces.db",
        "/images/replay1/../../../../etc/passwd",
        "/images/%2e%2e/%2e%2e/etc/hostname",
        "/images/replay1/000099-none.jpg",
        "/static/../dashboard.py",
        "/nowhere",
    ):
        status, body = get_json(base + path)
        assert status == 404 and body["error"], path
    assert get_json(base + "/api/analytics?vla=maybe")[0] == 400
    assert get_json(base + "/api/trials/replay1?since=soon")[0] == 400
    status, kind, data = get(base + "/export/analytics.csv?task_type=ball_in_bowl")
    assert status == 200 and kind.startswith("text/csv") and b"modules,perception,,2" in data
    status, kind, data = get(base + "/export/analytics.png")
    assert status == 200 and cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None
    assert get_json(base + "/api/trials")[0] == 200


def test_a_corrupt_or_foreign_store_is_reported_and_serving_goes_on(
    tmp_path: Path, serve_store: Callable[[Path], str]
) -> None:
    base = serve_store(tmp_path)
    status, body = get_json(base + "/api/trials")
    assert status == 503 and "no trace store" in body["error"]
    (tmp_path / "traces.db").write_bytes(b"garbage, not sqlite " * 100)
    for path in ("/api/trials", "/api/trials/x", "/api/analytics", "/export/analytics.csv"):
        status, body = get_json(base + path)
        assert status == 503 and "not a Maestro trace store" in body["error"], path
    assert get(base + "/")[0] == 200  # the pages still load and show the message
    (tmp_path / "traces.db").unlink()
    sqlite3.connect(tmp_path / "traces.db").execute("CREATE TABLE notes (x)").connection.commit()
    status, body = get_json(base + "/api/trials")
    assert status == 503 and ("not a Maestro trace store" in body["error"] or "schema" in body["error"])


def test_make_server_refuses_a_missing_folder_and_a_busy_port(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no trace store folder"):
        make_server(tmp_path / "missing", port=0)
    server = make_server(tmp_path, port=0)
    try:
        with pytest.raises(InvalidArgumentError, match="try another --port"):
            make_server(tmp_path, port=server.server_address[1])
    finally:
        server.server_close()


def test_the_cli_serves_the_dashboard(trial_store: Path, python: str) -> None:
    process = subprocess.Popen(
        [python, "-m", "maestro_agent.cli", "dashboard", "--store", str(trial_store), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("maestro dashboard: http://127.0.0.1:"), line
        status, body = get_json(line.split()[2].rstrip("/") + "/api/trials")
        assert status == 200 and {t["id"] for t in body["trials"]} == {"replay1", "noimage"}
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_non_finite_numbers_become_null(tmp_path: Path, serve_store: Callable[[Path], str]) -> None:
    store = TraceStore(tmp_path, batch_s=0.01)
    store.start_trial("nan", "score it", "x")
    store.event("nan", "judgement", 1, data={"decision": "continue", "progress": float("nan")})
    store.end_trial("nan", False, float("inf"), "odd scores", 1, 0)
    store.close()
    base = serve_store(tmp_path)

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    for path in ("/api/trials", "/api/trials/nan", "/api/analytics"):
        status, _, data = get(base + path)
        assert status == 200 and json.loads(data, parse_constant=refuse) is not None, path
    assert json.loads(get(base + "/api/trials/nan")[2])["events"][0]["data"]["progress"] is None
