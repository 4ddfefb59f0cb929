"""``haven report`` in a real browser: headless Chromium from the system's packages (``make
test`` installs it through tools/system-deps.sh; without it these tests fail, they do not skip).

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages ending in NUL on file descriptors 3 and 4), so the tests can ask the page itself:
every chart's SVG has a real size and drawn marks, the colours come from the page's light or
dark scheme, nothing was fetched, nothing was logged as an error, and printing on A4 gives
page breaks between the sections. A screenshot is taken and checked to be a real image.

    python tests/test_report_browser.py docs/report-example.png

remakes the README's example screenshot (the history of ``test_report.py``, reported with
``haven report --program``).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from test_report import history, run, setting  # noqa: F401 - the known history, "now" in London

CHROMIUM_NAMES = ("chromium", "chromium-browser")
TIMEOUT_S = 60.0

PROBE = """
(() => {
  const px = (s) => { const r = s.getBoundingClientRect(); return [r.width, r.height]; };
  const charts = [...document.querySelectorAll('svg.chart')].map((svg) => {
    // The marks: every drawn path with a real size (bars, squares, lines, glyphs).
    const drawn = [...svg.querySelectorAll('path')].filter((p) => {
      const b = p.getBBox(); return b.width > 0 || b.height > 0;
    });
    const fills = [...svg.querySelectorAll('path')].map((p) => getComputedStyle(p).fill);
    return {id: svg.id, size: px(svg), drawn: drawn.length,
            title: (svg.querySelector('title') || {}).textContent || '',
            fills: [...new Set(fills)]};
  });
  return JSON.stringify({
    charts,
    resources: performance.getEntriesByType('resource').map((e) => e.name),
    background: getComputedStyle(document.documentElement).backgroundColor,
    ink: getComputedStyle(document.body).color,
    tables: document.querySelectorAll('table').length,
    height: document.documentElement.scrollHeight,
  });
})()
"""


def find_chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium is not installed: `make test` installs it (tools/system-deps.sh), or "
                "`apt-get install chromium`")  # fmt: skip


class Browser:
    """One headless Chromium, spoken to over the DevTools protocol on a pipe."""

    def __init__(self, binary: str, profile: Path):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire() -> None:  # in the child: the pipe ends become fds 3 and 4 (inheritable)
            r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--hide-scrollbars", "--mute-audio", f"--user-data-dir={profile}",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            # Python's own descriptors are not inherited (PEP 446), so nothing else leaks.
            preexec_fn=wire, close_fds=False,
        )  # fmt: skip
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe: "
                                       + self.proc.stderr.read().decode(errors="replace")[-2000:])  # fmt: skip
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        deadline = time.monotonic() + TIMEOUT_S
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            event = self._read_message(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()
        os.close(self._to_child)
        os.close(self._from_child)


def open_page(browser: Browser, page: Path, scheme: str, width: int = 1000) -> str:
    """A new tab showing ``page`` in colour scheme ``scheme``; returns the session id."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)  # fmt: skip
    browser.send("Emulation.setEmulatedMedia",
                 {"features": [{"name": "prefers-color-scheme", "value": scheme}]}, session)  # fmt: skip
    browser.send("Page.navigate", {"url": page.as_uri()}, session)
    browser.wait_for("Page.loadEventFired")
    return session


def probe(browser: Browser, session: str) -> dict[str, Any]:
    result = browser.send("Runtime.evaluate", {"expression": PROBE, "returnByValue": True}, session)
    assert "exceptionDetails" not in result, result
    return json.loads(result["result"]["value"])


def screenshot(browser: Browser, session: str, path: Path, height: int | None = None) -> bytes:
    if height is None:
        height = int(browser.send("Page.getLayoutMetrics", session=session)["cssContentSize"]["height"])
    shot = browser.send("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 1000, "height": height, "scale": 1},
    }, session)  # fmt: skip
    data = base64.b64decode(shot["data"])
    path.write_bytes(data)
    return data


def errors(browser: Browser) -> list[dict[str, Any]]:
    """Errors the page raised or logged (exceptions, console.error, CSP violations, failed loads)."""
    found = []
    for event in browser.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(params)
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append(params)
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            found.append(params["entry"])
    return found


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# --- the tests ---------------------------------------------------------------------------------


@pytest.fixture
def report(history, tmp_path) -> Path:
    out = tmp_path / "report.html"
    run("report", "--program", "-o", str(out))
    return out


@pytest.fixture
def browser(tmp_path):
    b = Browser(find_chromium(), tmp_path / "profile")
    yield b
    b.close()


EXPECTED_CHARTS = ["chart-weekly", "chart-calendar", "chart-categories", "chart-exercises",
                   "chart-completion", "chart-program", "chart-checkins"]


def test_charts_are_drawn_in_a_real_browser(report, browser, tmp_path):
    session = open_page(browser, report, "light")
    page = probe(browser, session)
    assert [c["id"] for c in page["charts"]] == EXPECTED_CHARTS
    for chart in page["charts"]:
        width, height = chart["size"]
        assert width > 300 and height > 60, chart
        assert chart["drawn"] >= 5, chart  # bars, squares or lines, and the glyphs of the labels
        assert chart["title"], chart
    assert page["tables"] >= len(EXPECTED_CHARTS)
    assert page["resources"] == []  # nothing fetched: everything is in the page
    assert errors(browser) == []
    # The light scheme: a white page, and the heatmap's shades resolved from its variables.
    assert page["background"] == "rgb(255, 255, 255)"
    calendar = next(c for c in page["charts"] if c["id"] == "chart-calendar")
    assert {"rgb(232, 234, 237)", "rgb(134, 185, 224)"} <= set(calendar["fills"])
    data = screenshot(browser, session, tmp_path / "report.png")
    width, height = _png_size(data)
    assert width == 1000 and height == page["height"] and len(data) > 50_000


def test_dark_mode_changes_the_page_and_the_charts(report, browser):
    session = open_page(browser, report, "dark")
    page = probe(browser, session)
    assert page["background"] == "rgb(21, 23, 26)" and page["ink"] == "rgb(230, 231, 233)"
    calendar = next(c for c in page["charts"] if c["id"] == "chart-calendar")
    assert "rgb(42, 46, 51)" in calendar["fills"]  # the dark "no practice" shade
    assert "rgb(232, 234, 237)" not in calendar["fills"]
    assert all(c["size"][0] > 300 for c in page["charts"])
    assert errors(browser) == []


def test_printing_on_a4_breaks_pages_between_sections(report, browser):
    session = open_page(browser, report, "dark")  # printing uses the light colours regardless
    pdf = base64.b64decode(browser.send("Page.printToPDF", {
        "paperWidth": 8.27, "paperHeight": 11.69, "printBackground": True,
    }, session)["data"])  # fmt: skip
    assert pdf.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    # Summary and weeks; calendar; practice mix; program (and the adherence table after it).
    assert pages >= 4, pages
    assert errors(browser) == []


# --- the README's screenshot ---------------------------------------------------------------------


def make_docs_screenshot(target: Path, height: int | None = 2000) -> None:
    """Build the example journal in a temporary HAVEN_HOME and photograph its report."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HAVEN_HOME"] = str(Path(tmp) / "home")
        os.environ["TZ"] = "Europe/London"
        time.tzset()
        from click.testing import CliRunner
        from test_report import NOW, build_history

        from player.cli import journal as cli_journal
        from player.cli.app import main

        cli_journal._now = lambda: NOW
        build_history()
        out = Path(tmp) / "report.html"
        result = CliRunner().invoke(main, ["report", "--program", "-o", str(out)])
        assert result.exit_code == 0, result.output
        browser = Browser(find_chromium(), Path(tmp) / "profile")
        try:
            session = open_page(browser, out, "light")
            screenshot(browser, session, target, height=height)
        finally:
            browser.close()


if __name__ == "__main__":
    make_docs_screenshot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/report-example.png"))
