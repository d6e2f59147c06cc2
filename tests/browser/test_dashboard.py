"""The dashboard in real Chromium against `vodforge up` (a real process: API, scheduler and
two local workers on a fresh embedded data dir): sign in with the key `up` printed, upload
through the page, watch the list move live to READY, play the video and switch its quality,
cancel a running one and retry it, and see the error code of a file that is not a video.
Everything is done as a person would, keyboard included; screenshots land in
test-artifacts/dashboard/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import require_browser
from tests.support.clips import make_clip
from tests.support.dashboard import (
    ARTIFACTS,
    WATCH_LIST,
    Up,
    item,
    screenshot,
    sign_in,
    tab_to,
    uploaded_video_id,
    vodforge_up,
    wait_for_status,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    require_browser()
    with vodforge_up(tmp_path_factory.mktemp("up") / "vodforge-data", ARTIFACTS) as served:
        yield served


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough to still be transcoding when the test presses Cancel."""
    folder = tmp_path_factory.mktemp("long")
    return make_clip(folder / "long.mp4", width=854, height=480, fps=24, duration_s=40)


@pytest.fixture(scope="module")
def watch_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough that its transcode spans several of the live list's one-second polls (the
    5 s browser clip can finish between two of them, and PROCESSING would never be shown)."""
    folder = tmp_path_factory.mktemp("watch")
    return make_clip(folder / "lesson.mp4", width=854, height=480, fps=24, duration_s=15)


@pytest.fixture
def page(browser: Any, up: Up) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors


def auth(up: Up) -> dict[str, str]:
    return {"Authorization": f"Bearer {up.api_key}"}


def api_video(up: Up, video_id: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{up.url}/v1/videos/{video_id}", headers=auth(up)).json()
    return body


def test_upload_watch_it_process_live_play_it_and_switch_quality(
    page: Any, up: Up, watch_clip: Path
) -> None:
    clip = watch_clip
    assert up.info["dashboard_problem"] is None
    sign_in(page, up)
    page.evaluate("() => { window.neverReloaded = true; }")
    page.evaluate(WATCH_LIST)

    # The upload button is reached with the keyboard; the file goes in through its input.
    page.evaluate("() => document.activeElement.blur()")
    tab_to(page, "(e) => e.id === 'choose-file'")
    page.set_input_files("#file-input", str(clip))
    video_id = uploaded_video_id(page, clip.name)

    page.wait_for_function(
        "(id) => window.seen.some((s) => s.id === id && s.status === 'PROCESSING'"
        " && s.percent > 0)",
        arg=video_id,
        timeout=120_000,
    )
    screenshot(page, "1-processing")
    wait_for_status(page, video_id, {"READY"})
    screenshot(page, "2-ready")

    assert page.evaluate("() => window.neverReloaded") is True  # all of it pushed, live
    seen = [entry for entry in page.evaluate("() => window.seen") if entry["id"] == video_id]
    statuses = [entry["status"] for entry in seen]
    assert statuses[-1] == "READY", seen
    assert "PROCESSING" in statuses and statuses.index("PROCESSING") < len(statuses) - 1, seen
    progress = [entry["percent"] for entry in seen if entry["status"] == "PROCESSING"]
    assert any(0 < percent <= 100 for percent in progress), seen

    # The video's page: history, renditions, embed snippet, and the player.
    item(page, video_id).locator("a.video-title").click()
    page.wait_for_selector("#player-section:not([hidden])")
    history = page.locator("#events tbody").inner_text()
    assert "QUEUED → RUNNING" in history and "RUNNING → SUCCEEDED" in history, history
    renditions = page.locator("#renditions tbody tr").all_inner_texts()
    assert [row.split()[0] for row in renditions] == ["480p", "360p"], renditions
    embed = page.locator("#embed-code").input_value()
    assert f"{up.url}/v1/play/{video_id}/" in embed and "master.m3u8" in embed
    assert f'src="{up.url}/vendor/hls.js/hls.min.js"' in embed

    page.wait_for_function("() => document.querySelectorAll('#quality option').length === 3")
    page.evaluate(
        "() => { const v = document.getElementById('player'); v.muted = true; return v.play(); }"
    )
    page.wait_for_function("() => document.getElementById('player').currentTime > 0.3")
    playing = page.evaluate("() => window.vodforgePlayer.currentLevel")
    heights = page.evaluate("() => window.vodforgePlayer.levels.map((level) => level.height)")
    target = next(index for index in range(len(heights)) if index != playing)
    page.select_option("#quality", str(target))  # what a person picks in the menu
    page.wait_for_function("(target) => window.vodforgePlayer.currentLevel === target", arg=target)
    assert page.evaluate("() => window.vodforgePlayer.autoLevelEnabled") is False
    page.wait_for_selector(f"#quality-now:has-text('Playing {heights[target]}p')")
    page.wait_for_function("() => document.getElementById('player').ended", timeout=60_000)
    played = page.evaluate(
        "() => { const v = document.getElementById('player'); return [v.currentTime, v.duration]; }"
    )
    assert played[0] == pytest.approx(played[1], abs=0.3)
    assert played[1] == pytest.approx(api_video(up, video_id)["duration_s"], abs=0.5)
    screenshot(page, "3-video-page")


def test_cancel_a_running_video_then_retry_and_delete_it(
    page: Any, up: Up, long_clip: Path
) -> None:
    sign_in(page, up)
    page.set_input_files("#file-input", str(long_clip))
    video_id = uploaded_video_id(page, long_clip.name)
    entry = item(page, video_id)
    page.wait_for_function(
        "(id) => { const bar = document.querySelector("
        "`#video-list li.video[data-id='${id}'][data-status=PROCESSING] progress`);"
        " return bar && bar.value > 0; }",
        arg=video_id,
        timeout=120_000,
    )
    entry.get_by_role("button", name="Cancel").click()
    wait_for_status(page, video_id, {"CANCELLED"}, timeout_s=30)
    assert entry.get_by_role("button", name="Retry").is_visible()
    assert entry.get_by_role("button", name="Cancel").is_hidden()
    screenshot(page, "4-cancelled")

    first_job = api_video(up, video_id)["job"]["id"]
    entry.get_by_role("button", name="Retry").click()
    wait_for_status(page, video_id, {"UPLOADED", "PROCESSING"}, timeout_s=30)
    retried = api_video(up, video_id)
    assert retried["job"]["id"] != first_job and retried["status"] in {"UPLOADED", "PROCESSING"}
    wait_for_status(page, video_id, {"PROCESSING"}, timeout_s=60)

    page.once("dialog", lambda dialog: dialog.accept())  # "Delete …? Its files are removed"
    entry.get_by_role("button", name="Delete").click()
    entry.wait_for(state="detached", timeout=30_000)
    gone = httpx.get(f"{up.url}/v1/videos/{video_id}", headers=auth(up))
    assert gone.status_code == 404


def test_a_file_that_is_not_a_video_shows_its_error_code_and_is_retried_by_keyboard(
    page: Any, up: Up, tmp_path: Path
) -> None:
    fake = tmp_path / "not-a-video.mp4"
    fake.write_text("these are words, not frames\n" * 200)
    sign_in(page, up)
    page.evaluate(WATCH_LIST)
    page.set_input_files("#file-input", str(fake))
    video_id = uploaded_video_id(page, fake.name)
    wait_for_status(page, video_id, {"FAILED"}, timeout_s=60)
    entry = item(page, video_id)
    code = entry.locator(".error-code").inner_text()
    assert code in {"INVALID_INPUT", "UNSUPPORTED_FORMAT"}, code
    assert entry.locator(".error-text").inner_text().strip() != code  # a message follows it
    announced = page.evaluate("() => window.announced")
    assert any(text.startswith(f"not-a-video.mp4: FAILED ({code}: ") for text in announced), (
        announced
    )
    screenshot(page, "5-failed")

    # Every action is a button in the Tab order: reach this video's Retry and press Enter.
    first_job = api_video(up, video_id)["job"]["id"]
    page.evaluate("() => document.activeElement.blur()")
    tab_to(
        page,
        f"(e) => e.dataset.action === 'retry' && e.closest('li.video').dataset.id === '{video_id}'",
    )
    page.keyboard.press("Enter")
    page.wait_for_function(
        "([id, job]) => fetch(`/v1/videos/${id}`, {headers: {Authorization:"
        " `Bearer ${sessionStorage.getItem('vodforge.apiKey')}`}})"
        ".then((r) => r.json()).then((v) => v.job.id !== job && v.status === 'FAILED')",
        arg=[video_id, first_job],
        timeout=60_000,
        polling=500,
    )
    wait_for_status(page, video_id, {"FAILED"})

    # At phone width the page is one column with nothing to scroll sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, overflow
    screenshot(page, "6-phone")
