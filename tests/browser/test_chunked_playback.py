"""A chunked video plays to the end in real Chromium with hls.js, and every seek across a chunk
boundary plays on through it: the stitched package (segments of six chunk jobs, audio from
its own job) is one seamless stream to a player."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.api import api_components, api_settings, free_port, live_server, make_tenant
from tests.support.browser import play_hls, player_site
from tests.support.clips import make_clip
from vodforge.api.app import create_app
from vodforge.cli.runtime import build_runner
from vodforge.domain.states import JobState
from vodforge.process import StopToken
from vodforge.worker.family import run_family

pytestmark = pytest.mark.slow

CHUNK_S = 4
DURATION_S = 24

# Seek a little before each boundary and let it play through; what the page saw, per seek.
SEEK_ACROSS = """
async ({boundaries, lead}) => {
  const video = document.getElementById("video");
  const seen = [];
  for (const boundary of boundaries) {
    const target = boundary - lead;
    await new Promise((resolve) => {
      video.addEventListener("seeked", resolve, {once: true});
      video.currentTime = target;
    });
    const started = performance.now();
    while (video.currentTime < boundary + lead && performance.now() - started < 10000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    seen.push({boundary, reached: video.currentTime, paused: video.paused,
               buffered: video.buffered.length});
  }
  return seen;
}
"""


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(
        tmp_path_factory.mktemp("chunked-browser") / "lecture.mp4",
        width=640,
        height=360,
        fps=30,
        duration_s=DURATION_S,
    )


def test_a_chunked_video_plays_through_every_boundary(
    browser: Any, sqlite_url: str, tmp_path: Path, long_clip: Path
) -> None:
    port = free_port()
    settings = api_settings(
        sqlite_url,
        tmp_path / "data",
        VODFORGE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        VODFORGE_CHUNK_SECONDS=str(CHUNK_S),
        VODFORGE_CHUNK_MIN_DURATION_S="8",
    )
    with api_components(settings) as components:
        owner = make_tenant(components, "customer")
        video = components.videos.submit_file(long_clip, components.tenants.authenticate(owner.key))
        assert video.current_job_id is not None
        job = components.repo.claim_job_by_id(video.current_job_id, "browser-test-worker")
        assert job is not None
        runner = build_runner(components)
        assert runner.run(job, StopToken()).state is JobState.RUNNING  # split
        outcome = run_family(components.repo, runner, job.id, StopToken(), "browser-test-worker")
        assert outcome.state is JobState.SUCCEEDED, outcome.failure
        children = components.repo.family_parts(job.id)
        assert sum(c.kind.value == "chunk" for c in children) == DURATION_S // CHUNK_S

        with live_server(create_app(components), port) as api, player_site() as site:
            body = httpx.get(f"{api}/v1/videos/{video.id}", headers=owner.headers).json()
            assert body["status"] == "READY", body
            page_url = f"{site}/player.html?src={quote(body['playback_url'])}"
            report = play_hls(browser, page_url, timeout_s=90)
            seeks = _seek_across_boundaries(browser, page_url)

    diagnostics = (report.fatal, report.errors, report.failed_requests, report.console[-10:])
    assert report.fatal is None and report.ended, diagnostics
    assert report.failed_requests == [], diagnostics
    assert report.duration == pytest.approx(DURATION_S, abs=0.3), diagnostics
    assert report.current_time == pytest.approx(report.duration, abs=0.3), diagnostics
    # Every boundary was crossed by playing, not by stalling in front of it.
    assert [s["boundary"] for s in seeks] == list(range(CHUNK_S, DURATION_S, CHUNK_S))
    for seek in seeks:
        assert seek["reached"] >= seek["boundary"] + 0.5, seeks
        assert seek["paused"] is False, seeks
        assert seek["buffered"] >= 1, seeks


def _seek_across_boundaries(browser: Any, page_url: str) -> list[dict[str, Any]]:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(page_url)
        page.wait_for_function(
            "() => document.getElementById('video').readyState >= 3 || window.report.fatal",
            timeout=30_000,
        )
        seen: list[dict[str, Any]] = page.evaluate(
            SEEK_ACROSS,
            {"boundaries": list(range(CHUNK_S, DURATION_S, CHUNK_S)), "lead": 0.5},
        )
        fatal = page.evaluate("() => window.report.fatal")
        errors = page.evaluate("() => window.report.errors")
    finally:
        context.close()
    assert fatal is None, (fatal, errors)
    # hls.js reports a stall it recovered from as a non-fatal error; a gap or an overlap at a
    # chunk boundary shows up here as a bufferStalledError or a bufferSeekOverHole.
    assert [e for e in errors if "Hole" in e["details"] or "Stalled" in e["details"]] == [], errors
    return seen
