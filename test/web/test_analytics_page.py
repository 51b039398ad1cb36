"""The analytics page in headless Chromium: the transition map's cells equal an independent count."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from test.unit.test_analytics import build_store, independent
from test.web.cdp import Browser
from test.web.conftest import build_big_store

CELLS = (
    "Object.fromEntries([...document.querySelectorAll('#matrix td.cell')]"
    ".map(td => [td.dataset.from + '>' + td.dataset.to, Number(td.textContent)]))"
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("analytics_page"))


def check_matrix(browser: Browser, root: Path, task_type: str, vla: bool | None) -> None:
    want = independent(root, task_type, vla)
    cells = browser.evaluate(CELLS)
    modules = sorted(want["modules"])
    assert len(cells) == len(modules) ** 2
    for a in modules:
        for b in modules:
            assert cells[f"{a}>{b}"] == want["mt"].get((a, b), 0), (a, b)
    bars = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#modules .bar-row')]"
        ".map(r => [r.dataset.name, Number(r.dataset.count)]))"
    )
    assert bars == dict(want["modules"])
    bigrams = browser.evaluate("document.querySelectorAll('#bigrams tr[data-from]').length")
    assert bigrams == min(15, len(want["ft"]))


def test_the_transition_map_and_filters(
    browser: Browser, store: Path, serve_store: Callable[[Path], str], artifacts_dir: Path
) -> None:
    base = serve_store(store)
    browser.goto(base + "/analytics")
    browser.wait_for("document.body.dataset.drawn")
    check_matrix(browser, store, "", None)
    assert browser.evaluate(CELLS)["robot>robot"] == 3  # the known value (see test_analytics)
    browser.screenshot(artifacts_dir / "dashboard_analytics.png")

    browser.evaluate(
        "document.getElementById('vla').value = 'no';"
        "document.getElementById('vla').dispatchEvent(new Event('change'))"
    )
    browser.wait_for("document.body.dataset.drawn && location.search === '?vla=no'")
    check_matrix(browser, store, "", False)
    browser.evaluate(
        "document.getElementById('task-type').value = 'wipe_table';"
        "document.getElementById('task-type').dispatchEvent(new Event('change'))"
    )
    browser.wait_for("document.body.dataset.drawn && location.search.includes('task_type=wipe_table')")
    check_matrix(browser, store, "wipe_table", False)
    assert browser.text("#summary").startswith("5 depth-0 tool call(s) in 2 trial(s)")  # wipe2, empty
    href = browser.evaluate("document.getElementById('csv').getAttribute('href')")
    assert href == "/export/analytics.csv?task_type=wipe_table&vla=no"
    exports = browser.evaluate(
        "Promise.all(['csv', 'png'].map(id => fetch(document.getElementById(id).href)"
        ".then(r => [r.status, r.headers.get('content-type')])))"
    )
    assert exports == [[200, "text/csv; charset=utf-8"], [200, "image/png"]]
    browser.screenshot(artifacts_dir / "dashboard_analytics_filtered.png")
    assert browser.errors == []


def test_ten_thousand_calls_render_quickly(
    browser: Browser, serve_store: Callable[[Path], str], tmp_path: Path, artifacts_dir: Path
) -> None:
    build_big_store(tmp_path)
    base = serve_store(tmp_path)
    figures = {}
    browser.goto(base + "/analytics")
    browser.wait_for("document.body.dataset.drawn")
    figures["analytics_page_ms"] = browser.evaluate("window.drawnAt.drawn")
    assert browser.evaluate(CELLS)["robot>perception"] == 2500
    browser.goto(base + "/trial?id=big")
    browser.wait_for("document.body.dataset.drawn")
    figures["replay_page_ms"] = browser.evaluate("window.drawnAt.drawn")
    figures["replay_scrub_ms"] = browser.evaluate(
        "(() => { const s = document.getElementById('slider'); const t = performance.now();"
        " for (let i = 1; i <= 20; i++) { s.value = Math.round(s.max * i / 20);"
        " s.dispatchEvent(new Event('input')); } return (performance.now() - t) / 20; })()"
    )
    assert browser.text("#tools-head").startswith("10000 call(s) so far")
    browser.goto(base + "/")
    browser.wait_for("document.body.dataset.drawn")
    figures["trial_list_ms"] = browser.evaluate("window.drawnAt.drawn")
    figures = {k: round(v, 1) for k, v in figures.items()}
    print(f"\n10,000 calls, navigation start to drawn: {figures}")
    (artifacts_dir / "dashboard_perf.json").write_text(json.dumps(figures, indent=1))
    assert figures["analytics_page_ms"] < 10_000 and figures["replay_page_ms"] < 10_000
    assert browser.errors == []
