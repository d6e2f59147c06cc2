"""The dashboard as a newcomer meets it: `vodforge up` as a real process on a fresh data dir
and a free port, a Chromium page signed in with the key it printed, and screenshots kept
under test-artifacts/ for people to look at."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.api import free_port
from tests.support.cli import REPO_ROOT, wait_for
from tests.support.pipeline import embedded_env

ARTIFACTS = REPO_ROOT / "test-artifacts" / "dashboard"


@dataclass(frozen=True)
class Up:
    url: str
    api_key: str
    info: dict[str, Any]
    log: Path


@contextmanager
def vodforge_up(data_dir: Path, logs: Path, *, workers: int = 2) -> Iterator[Up]:
    """`vodforge up --json` with quick heartbeats (a cancel lands within a second); yields
    once it listens. Stopped with SIGINT, as Ctrl-C would."""
    port = free_port()
    env = embedded_env(
        data_dir,
        VODFORGE_HEARTBEAT_S="0.5",
        VODFORGE_LEASE_TTL_S="5",
        VODFORGE_SCAN_INTERVAL_S="0.5",
    )
    logs.mkdir(parents=True, exist_ok=True)
    stdout, stderr = logs / "up-stdout.txt", logs / "up-stderr.txt"
    args = ["up", "--port", str(port), "--workers", str(workers), "--json"]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vodforge", *args],
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        try:

            def started() -> str | None:
                if proc.poll() is not None:
                    raise AssertionError(f"up exited {proc.returncode}: {stderr.read_text()}")
                text = stdout.read_text()
                return text if text.endswith("\n") else None

            info = json.loads(wait_for(started, timeout=60).splitlines()[0])
            yield Up(info["url"], info["api_key"], info, stderr)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Records every (status, progress) a video's list item shows, and every status announcement,
# from inside the page: what a person would have seen and heard between two looks of a test.
WATCH_LIST = """
() => {
  window.seen = [];
  const record = () => {
    for (const item of document.querySelectorAll("#video-list li.video")) {
      const bar = item.querySelector("progress");
      const entry = {
        id: item.dataset.id,
        status: item.dataset.status,
        percent: bar ? Number(bar.value) : null,
        text: item.querySelector(".progress-text").textContent,
      };
      const last = window.seen.filter((seen) => seen.id === entry.id).pop();
      if (!last || last.status !== entry.status || last.percent !== entry.percent) {
        window.seen.push(entry);
      }
    }
  };
  new MutationObserver(record).observe(document.getElementById("video-list"), {
    subtree: true, attributes: true, childList: true, characterData: true,
  });
  record();
  // And everything said through the aria-live region, in order.
  window.announced = [];
  const announcer = document.getElementById("announcer");
  new MutationObserver(() => window.announced.push(announcer.textContent)).observe(
    announcer, {childList: true, characterData: true, subtree: true},
  );
}
"""


def sign_in(page: Any, up: Up) -> None:
    page.goto(up.url + "/")
    page.get_by_label("API key").fill(up.api_key)
    page.keyboard.press("Enter")
    page.wait_for_selector("#list-view:not([hidden])")
    page.wait_for_selector("#connection[data-state=live]")


def item(page: Any, video_id: str) -> Any:
    return page.locator(f'#video-list li.video[data-id="{video_id}"]')


def uploaded_video_id(page: Any, filename: str, timeout_s: float = 60) -> str:
    """Wait for the upload row of `filename` to finish; the id its final response named."""
    row = page.locator("#uploads li.upload", has_text=filename)
    row.locator("a", has_text="open").wait_for(timeout=timeout_s * 1000)
    href = row.locator("a", has_text="open").get_attribute("href")
    assert href and href.startswith("#/videos/"), href
    return str(href.removeprefix("#/videos/"))


def wait_for_status(page: Any, video_id: str, statuses: set[str], timeout_s: float = 120) -> str:
    selector = ", ".join(f'li.video[data-id="{video_id}"][data-status="{s}"]' for s in statuses)
    page.wait_for_selector(selector, timeout=timeout_s * 1000)
    return str(item(page, video_id).get_attribute("data-status"))


def tab_to(page: Any, predicate_js: str, max_presses: int = 60) -> list[str]:
    """Press Tab until the focused element satisfies `predicate_js` (a function of the
    element); the focus path taken, for the failure message."""
    path = []
    for _ in range(max_presses):
        page.keyboard.press("Tab")
        described = page.evaluate(
            "() => { const e = document.activeElement;"
            " return e.tagName + '#' + e.id + ' ' + (e.textContent || '').trim().slice(0, 40); }"
        )
        path.append(described)
        if page.evaluate(f"() => ({predicate_js})(document.activeElement)"):
            return path
    raise AssertionError(f"Tab never reached it; focus went: {path}")
