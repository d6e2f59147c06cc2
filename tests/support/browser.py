"""A real browser for tests: headless Chromium through Playwright, a tiny static site on its own
origin (a customer's page), and an hls.js player page that reports how playback went."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.databases import require_service

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("VODFORGE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# hls.js as npm installs it for the dashboard (scripts/test runs `npm ci` there).
HLS_JS = REPO_ROOT / "src/vodforge/dashboard/node_modules/hls.js/dist/hls.min.js"

PLAYER_HTML = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>customer page</title></head>
<body>
<video id="video" muted playsinline></video>
<script src="/hls.min.js"></script>
<script>
window.report = {ended: false, fatal: null, errors: [], currentTime: null, duration: null};
const video = document.getElementById("video");
video.addEventListener("ended", () => {
  report.currentTime = video.currentTime;
  report.duration = video.duration;
  report.ended = true;
});
if (!Hls.isSupported()) {
  report.fatal = "hls.js is not supported in this browser (no MediaSource?)";
} else {
  const hls = new Hls();
  hls.on(Hls.Events.ERROR, (_event, data) => {
    report.errors.push({type: data.type, details: data.details, fatal: data.fatal});
    if (data.fatal) report.fatal = data.type + ": " + data.details;
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    video.play().catch((error) => { report.fatal = "play() refused: " + error; });
  });
  hls.loadSource(new URLSearchParams(location.search).get("src"));
  hls.attachMedia(video);
}
</script>
</body></html>
"""


def require_browser() -> None:
    """Chromium and hls.js must be there: skipped locally when missing, a failure in CI."""
    require_service(f"Chromium ({CHROMIUM})", CHROMIUM.is_file())
    require_service(f"hls.js from npm ({HLS_JS}; run `npm ci` in its folder)", HLS_JS.is_file())


@dataclass
class PlayReport:
    """What the player page saw, and every response the browser got (url, status)."""

    ended: bool
    fatal: str | None
    errors: list[dict[str, Any]]
    current_time: float | None
    duration: float | None
    responses: list[tuple[str, int]] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


def play_hls(browser: Any, page_url: str, timeout_s: float = 60) -> PlayReport:
    """Open the player page (it loads the `src` in its query with hls.js and plays it muted),
    wait until the video ends or hls.js gives up, and report."""
    context = browser.new_context()
    page = context.new_page()
    responses: list[tuple[str, int]] = []
    failed: list[str] = []
    console: list[str] = []
    page.on("response", lambda response: responses.append((response.url, response.status)))
    page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    try:
        page.goto(page_url)
        page.wait_for_function(
            "() => window.report.ended || window.report.fatal !== null", timeout=timeout_s * 1000
        )
        report = page.evaluate("() => window.report")
    finally:
        context.close()
    return PlayReport(
        ended=bool(report["ended"]),
        fatal=report["fatal"],
        errors=list(report["errors"]),
        current_time=report["currentTime"],
        duration=report["duration"],
        responses=responses,
        failed_requests=failed,
        console=console,
    )


@contextmanager
def static_site(files: dict[str, tuple[bytes, str]]) -> Iterator[str]:
    """Serve `files` (path -> (body, content type)) on 127.0.0.1, a port of its own: another
    origin than the API's. Yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = files.get(self.path.split("?", 1)[0])
            if found is None:
                self.send_error(404)
                return
            body, content_type = found
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="static-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def player_site() -> Iterator[str]:
    """The customer's page: /player.html and hls.js from the dashboard's node_modules."""
    files = {
        "/player.html": (PLAYER_HTML, "text/html; charset=utf-8"),
        "/hls.min.js": (HLS_JS.read_bytes(), "text/javascript"),
    }
    with static_site(files) as base:
        yield base
