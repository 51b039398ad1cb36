"""The trial list and replay page in a real headless Chromium: scrubbing, playback, live follow, bad input."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from maestro_agent.loop import OUTCOMES
from maestro_agent.traces.recorder import TraceRecorder
from maestro_agent.traces.store import TraceStore
from test.web.cdp import Browser
from test.web.conftest import T0, video_colour


def scrub(browser: Browser, seconds: float) -> None:
    """Move the timeline slider to ``seconds`` after the trial's start, as dragging it would."""
    browser.evaluate(
        "(() => { const s = document.getElementById('slider');"
        f" s.value = {round(seconds * 1000)}; s.dispatchEvent(new Event('input', {{bubbles: true}})); }})()"
    )


def expected_at(root: Path, trial: str, t: float) -> tuple[int, int, int]:
    """(substep, highlighted line, camera image id) at time t, read straight from the store's rows."""
    db = sqlite3.connect(root / "traces.db")
    code = db.execute(
        "SELECT t, substep FROM events WHERE trial_id = ? AND kind = 'code' AND t <= ? "
        "ORDER BY t DESC, id DESC",
        (trial, t),
    ).fetchone()
    line = db.execute(
        "SELECT t, substep, line FROM events WHERE trial_id = ? AND kind = 'line' AND t <= ? "
        "ORDER BY t DESC, id DESC",
        (trial, t),
    ).fetchone()
    image = db.execute(
        "SELECT id FROM images WHERE trial_id = ? AND label LIKE '%camera%' AND t <= ? "
        "ORDER BY t DESC, id DESC",
        (trial, t),
    ).fetchone()
    db.close()
    highlighted = line[2] if code and line and line[0] >= code[0] and line[1] == code[1] else 0
    return (code[1] if code else 0, highlighted, image[0] if image else 0)


def state(browser: Browser) -> dict:
    return browser.evaluate(
        "({substep: document.getElementById('code').dataset.substep,"
        " line: document.getElementById('code').dataset.line,"
        " current: document.querySelector('#code .line.current')?.textContent ?? '',"
        " camera: document.getElementById('camera-img').dataset.imageId,"
        " perception: document.getElementById('perception-img').dataset.imageId,"
        " subtask: document.querySelector('#subtasks li.current')?.dataset.index,"
        " tools: document.getElementById('tools-head').textContent,"
        " clock: document.getElementById('clock').textContent})"
    )


@pytest.fixture(scope="module")
def base(trial_store: Path, serve_store: Callable[[Path], str]) -> str:
    return serve_store(trial_store)


def test_the_trial_list_shows_the_trials(browser: Browser, base: str, artifacts_dir: Path) -> None:
    browser.goto(base + "/")
    browser.wait_for("document.body.dataset.drawn")
    rows = browser.evaluate("[...document.querySelectorAll('#trials tbody tr')].map(r => r.innerText)")
    assert len(rows) == 2
    replay = next(r for r in rows if r.startswith("replay1"))
    assert "success" in replay and "ball_in_bowl" in replay and "7 (1 failed)" in replay
    browser.screenshot(artifacts_dir / "dashboard_trials.png")
    assert browser.errors == []


def test_scrubbing_moves_the_code_line_images_and_subtasks(
    browser: Browser, base: str, trial_store: Path, artifacts_dir: Path
) -> None:
    browser.goto(base + "/trial?id=replay1")
    browser.wait_for("document.body.dataset.drawn")
    opening = state(browser)  # the replay opens on the first plan, not on an empty page
    assert opening["clock"].startswith("1.0 s") and opening["camera"] == "1"
    assert browser.evaluate("document.querySelectorAll('#subtasks li').length") == 3
    assert "The ball lies left of the bowl" in browser.text("#reasoning")
    scrub(browser, 2.3)
    s = state(browser)
    assert (s["substep"], s["line"], s["camera"]) == ("1", "3", "1")
    assert "grasping.pick(objects[0])" in s["current"] and s["subtask"] == "0"
    assert s["tools"] == "2 call(s) so far" and s["clock"].startswith("2.3 s")
    browser.screenshot(artifacts_dir / "dashboard_replay_2.3s.png")

    scrub(browser, 5.5)
    s = state(browser)
    assert (s["substep"], s["line"], s["camera"], s["perception"]) == ("2", "2", "3", "3")
    assert 'grasping.pick(ball, approach="top")' in s["current"] and s["subtask"] == "1"
    assert s["tools"] == "5 call(s) so far, 1 failed"
    reasoning = browser.text("#reasoning")
    assert "retry" in reasoning and "the grasp closed on nothing" in reasoning
    assert browser.evaluate("document.querySelector('#tools .call.failed').dataset.depth") == "0"
    assert browser.evaluate("document.querySelector('#subtasks li.done').dataset.index") == "0"
    browser.wait_for("!document.getElementById('camera-img').hidden")  # the image file loaded
    browser.screenshot(artifacts_dir / "dashboard_replay_5.5s.png")

    scrub(browser, 7.8)
    assert (state(browser)["line"], state(browser)["camera"]) == ("4", "4")
    scrub(browser, 8.1)
    assert browser.text("#phase") == "done: success"
    assert browser.evaluate("document.querySelectorAll('#subtasks li.done').length") == 3

    # Drag the slider with the mouse; whatever time it lands on, the panels match the store's rows.
    box = browser.evaluate(
        "(() => { const r = document.getElementById('slider').getBoundingClientRect();"
        " return [r.left, r.width, r.top + r.height / 2]; })()"
    )
    for fraction in (0.2, 0.55, 0.9):
        browser.drag(box[0] + 5, box[0] + box[1] * fraction, box[2])
        t = T0 + int(browser.evaluate("document.getElementById('slider').value")) / 1000
        substep, line, image = expected_at(trial_store, "replay1", t)
        s = state(browser)
        assert (s.get("substep") or "0", s.get("line") or "0") == (str(substep), str(line)), (
            fraction,
            t - T0,
        )
        assert s.get("camera") == (str(image) if image else None)
    assert browser.errors == []


VIDEO_JS = """(() => {
  const img = document.getElementById('video-img');
  let colour = null;
  if (img.complete && img.naturalWidth && !img.hidden) {
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const g = canvas.getContext('2d');
    g.drawImage(img, 0, 0);
    colour = [...g.getImageData(canvas.width / 2, canvas.height / 2, 1, 1).data.slice(0, 3)];
  }
  return {id: img.dataset.frameId, src: img.getAttribute('src'), width: img.naturalWidth, colour,
    label: document.getElementById('video-label').textContent,
    cursor: document.getElementById('video-cursor').value, slider: document.getElementById('slider').value,
    line: document.getElementById('code').dataset.line,
    substep: document.getElementById('code').dataset.substep};
})()"""


def expected_frame(root: Path, trial: str, t: float) -> tuple[str, str, int]:
    """(id, path, index k) of the video frame shown at time t: the last one taken at or before it."""
    db = sqlite3.connect(root / "traces.db")
    frame_id, path, at = db.execute(
        "SELECT id, path, t FROM video_frames WHERE trial_id = ? AND t <= ? ORDER BY t DESC, id DESC",
        (trial, t),
    ).fetchone()
    db.close()
    return str(frame_id), path, round((at - T0) / 0.5)


def video_at(browser: Browser, root: Path) -> tuple[dict, int]:
    """The video panel once its frame has loaded, and the index of the frame the store has for that time."""
    t = T0 + int(browser.evaluate("document.getElementById('slider').value")) / 1000
    frame_id, path, index = expected_frame(root, "replay1", t)
    image = "document.getElementById('video-img')"
    browser.wait_for(
        f"{image}.dataset.frameId === '{frame_id}' && !{image}.hidden && {image}.complete"
        f" && {image}.naturalWidth > 0"
    )
    video = browser.evaluate(VIDEO_JS)
    assert video["src"] == "/images/" + path and video["cursor"] == video["slider"], video
    return video, index


def same_colour(seen: list[int], index: int) -> bool:
    return max(abs(a - b) for a, b in zip(seen, video_colour(index), strict=True)) <= 6  # JPEG


def test_the_video_shows_the_frame_of_the_selected_code_line_and_time(
    browser: Browser, base: str, trial_store: Path, artifacts_dir: Path
) -> None:
    browser.goto(base + "/trial?id=replay1")
    browser.wait_for("document.body.dataset.drawn")
    video, index = video_at(browser, trial_store)  # opens on the plan (1.0 s): the frame of 1.0 s
    assert index == 2 and same_colour(video["colour"], 2) and video["width"] == 480  # downscaled 640 -> 480
    assert video["label"] == "frame 3/17 · planning · 1.0 s"

    scrub(browser, 2.3)  # substep 1's code; its line 2 ran at 1.6 s: the frame taken at 1.5 s
    browser.evaluate("document.querySelector('#code .line[data-line=\"2\"]').click()")
    video, index = video_at(browser, trial_store)
    assert (video["slider"], video["substep"], video["line"], index) == ("1600", "1", "2", 3)
    assert same_colour(video["colour"], 3) and video["label"] == "frame 4/17 · substep 1 · 1.5 s"
    browser.screenshot(artifacts_dir / "dashboard_replay_video.png")

    scrub(browser, 5.5)  # substep 2's code; its line 4 ran at 7.1 s
    browser.evaluate("document.querySelector('#code .line[data-line=\"4\"]').click()")
    video, index = video_at(browser, trial_store)
    assert (video["slider"], video["substep"], video["line"], index) == ("7100", "2", "4", 14)
    assert same_colour(video["colour"], 14)

    # The cursor under the video is the timeline's: moving it moves every panel.
    browser.evaluate(
        "(() => { const c = document.getElementById('video-cursor');"
        " c.value = 3300; c.dispatchEvent(new Event('input', {bubbles: true})); })()"
    )
    video, index = video_at(browser, trial_store)
    assert (video["slider"], video["substep"], video["line"], index) == ("3300", "1", "3", 6)
    assert same_colour(video["colour"], 6) and state(browser)["camera"] == "3"
    for seconds in (0.0, 4.49, 4.5, 8.1):  # and the timeline moves the video
        scrub(browser, seconds)
        video, index = video_at(browser, trial_store)
        assert same_colour(video["colour"], index), (seconds, video)
    assert index == 16 and browser.errors == []


def test_markers_seek_and_playback_runs_to_the_end(browser: Browser, base: str) -> None:
    browser.goto(base + "/trial?id=replay1")
    browser.wait_for("document.body.dataset.drawn")
    kinds = browser.evaluate("[...document.querySelectorAll('#markers .marker')].map(m => m.className)")
    assert "marker failure" in kinds and "marker retry" in kinds and kinds.count("marker substep") == 2
    browser.evaluate("document.querySelector('#markers .marker.retry').click()")
    assert browser.evaluate("document.getElementById('slider').value") == "4000"
    assert state(browser)["clock"].startswith("4.0 s")
    scrub(browser, 0)
    speed = "document.getElementById('speed')"
    browser.evaluate(f"{speed}.value = '10'; {speed}.dispatchEvent(new Event('change'))")
    browser.evaluate("document.getElementById('play').click()")
    browser.wait_for("Number(document.getElementById('slider').value) > 2000", timeout=5)
    browser.wait_for("document.getElementById('play').textContent === '▶'", timeout=5)  # stopped at the end
    assert browser.evaluate("document.getElementById('slider').value") == "8100"
    assert state(browser)["line"] == "4"
    assert browser.errors == []


def test_unknown_trial_and_missing_image_show_clear_messages(
    browser: Browser, base: str, artifacts_dir: Path
) -> None:
    browser.goto(base + "/trial?id=no-such-trial")
    message = browser.wait_for(
        "!document.getElementById('error').hidden && document.getElementById('error').textContent"
    )
    assert "no trial 'no-such-trial'" in message and "/api/trials" in message
    assert browser.text("#title") == "Trial not found"
    browser.screenshot(artifacts_dir / "dashboard_unknown_trial.png")

    browser.goto(base + "/trial?id=noimage")
    browser.wait_for("document.body.dataset.drawn")
    scrub(browser, 10)
    missing = "document.getElementById('camera-missing')"
    text = browser.wait_for(f"!{missing}.hidden && {missing}.textContent")
    assert "image missing: noimage/000001-scene_camera.jpg" in text
    assert browser.evaluate("document.getElementById('camera-img').hidden") is True
    browser.screenshot(artifacts_dir / "dashboard_missing_image.png")
    assert browser.errors == []


def test_a_running_trial_is_followed_live(
    browser: Browser, serve_store: Callable[[Path], str], tmp_path: Path
) -> None:
    store = TraceStore(tmp_path, batch_s=0.01)
    code = "perception.detect('cup')\nrobot.move_gripper_to(cup)\nrobot.close_gripper()"
    store.start_trial("live1", "pick up the cup", "pick")
    store.event(
        "live1", "phase", 1, data={"phase": "executing", "plan": ["pick the cup"], "current_subtask": 0}
    )
    store.event("live1", "code", 1, data={"code": code})
    store.event("live1", "line", 1, line=1)
    store.flush()
    base = serve_store(tmp_path)
    browser.goto(base + "/trial?id=live1")
    browser.wait_for("document.body.dataset.drawn")
    assert browser.evaluate("document.getElementById('live').hidden") is False
    assert state(browser)["line"] == "1"
    started = time.monotonic()
    store.event("live1", "line", 1, line=2)
    store.tool_call("live1", 1, {"module": "robot", "function": "move_gripper_to", "category": "control"})
    store.flush()
    browser.wait_for("document.getElementById('code').dataset.line === '2'", timeout=5)
    store.event("live1", "line", 1, line=3)
    store.end_trial("live1", True, 100.0, "picked", 1, 0)
    store.close()
    done = "document.getElementById('live').hidden && document.getElementById('code').dataset.line === '3'"
    browser.wait_for(done, timeout=5)
    print(f"\nlive follow: new rows shown within {time.monotonic() - started:.1f} s (two polls)")
    assert "success" in browser.text("#title") and state(browser)["tools"] == "1 call(s) so far"
    assert browser.errors == []


def test_a_corrupt_store_shows_its_message(
    browser: Browser, serve_store: Callable[[Path], str], tmp_path: Path, artifacts_dir: Path
) -> None:
    (tmp_path / "traces.db").write_bytes(b"this is no database " * 100)
    base = serve_store(tmp_path)
    for page in ("/", "/analytics"):
        browser.goto(base + page)
        browser.wait_for("document.body.dataset.drawn")
        assert "is not a Maestro trace store" in browser.text("#error"), page
    browser.screenshot(artifacts_dir / "dashboard_corrupt_store.png")
    assert browser.errors == []


def test_every_trial_outcome_has_its_badge(
    browser: Browser, serve_store: Callable[[Path], str], tmp_path: Path, artifacts_dir: Path
) -> None:
    store = TraceStore(tmp_path, batch_s=0.01)
    recorder = TraceRecorder(store)
    kinds = [kind for kind in OUTCOMES if kind != "interrupted"]
    for kind in kinds:
        recorder.record("trial_start", trial_id=kind, instruction=f"a trial ending {kind}")
        summary = f"{kind} after 1 substep(s), 0 replan(s): because"
        recorder.record(
            "outcome",
            outcome=kind,
            success=kind == "success",
            progress=-1.0,
            summary=summary,
            reason="because",
        )
    store.start_trial("old", "a trial of an agent that died long ago")
    store.close()
    db = sqlite3.connect(tmp_path / "traces.db")
    with db:
        db.execute("UPDATE trials SET owner = NULL, started = ? WHERE id = 'old'", (time.time() - 3600,))
    db.close()
    TraceRecorder(TraceStore(tmp_path)).store.close()  # an agent opens the store: 'old' is interrupted
    base = serve_store(tmp_path)
    browser.goto(base + "/")
    browser.wait_for("document.body.dataset.drawn")
    badges = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#trials tbody tr')].map("
        "r => [r.dataset.id, r.querySelector('.badge').textContent]))"
    )
    assert badges == {
        "success": "success", "failed": "failed", "budget_exhausted": "budget exhausted",
        "cancelled": "cancelled", "vlm_error": "VLM error", "unusable_reply": "unusable reply",
        "error": "error", "old": "interrupted",
    }  # fmt: skip
    browser.screenshot(artifacts_dir / "dashboard_outcomes.png")
    browser.goto(base + "/trial?id=cancelled")
    browser.wait_for("document.body.dataset.drawn")
    assert browser.text("#title .badge") == "cancelled" and "because" in browser.text("#meta")
    assert browser.errors == []
