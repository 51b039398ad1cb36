"""The sweep report's HTML page in headless Chromium: its tables equal an independent computation from the
raw result rows, the figure loads and the exports download."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from maestro_agent.evaluation.report import write_report
from maestro_agent.evaluation.results import ResultsWriter
from test.unit.test_eval_report import independent, raw_rows
from test.web.cdp import Browser

SUMMARY = (
    "[...document.querySelectorAll('#summary tbody tr')].map(tr => ({...tr.dataset}))"  # data-* of each row
)


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def report_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    root = tmp_path_factory.mktemp("eval_report")
    rows = raw_rows()
    writer = ResultsWriter(root / "results.jsonl")
    for row in rows:
        writer.append(row)
    write_report(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root / "report")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", rows
    server.shutdown()
    server.server_close()


def test_the_report_page_shows_the_numbers_the_figure_and_the_exports(
    browser: Browser, report_url: tuple[str, list[dict[str, Any]]], artifacts_dir: Path
) -> None:
    base, rows = report_url
    browser.goto(base + "/index.html")
    browser.wait_for("document.getElementById('figure').complete")
    want = independent(rows, {})
    shown = browser.evaluate(SUMMARY)
    assert len(shown) == len(want)
    for row in shown:
        expected = want[(row["task"], row["axis"], row["config"])]
        for name in ("trials", "mean_progress", "std_progress", "success_rate", "infra_failures"):
            assert float(row[_camel(name)]) == pytest.approx(expected[name], abs=0.01), (row, name)
    assert browser.evaluate("document.getElementById('figure').naturalWidth") > 400
    keys = {r["key"] for r in rows}
    assert browser.evaluate("document.querySelectorAll('#trials tbody tr').length") == len(keys)
    assert browser.evaluate("document.querySelectorAll('#trials tr.infra').length") == 1
    assert (
        browser.text("#counts") == f"{len(keys)} trial(s), {len(keys) - 1} ran, 1 infrastructure failure(s)"
    )
    exports = browser.evaluate(
        "Promise.all(['png', 'summary-csv', 'trials-csv', 'json']"
        ".map(id => fetch(document.getElementById(id).href)"
        ".then(r => r.text().then(body => [r.status, r.headers.get('content-type'), body.length]))))"
    )
    assert [e[:2] for e in exports] == [
        [200, "image/png"],
        [200, "text/csv"],
        [200, "text/csv"],
        [200, "application/json"],
    ]
    assert all(e[2] > 100 for e in exports)
    browser.screenshot(artifacts_dir / "eval_report.png")
    assert browser.errors == []


def _camel(name: str) -> str:
    """data-mean-progress reads back as dataset.meanProgress."""
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)
