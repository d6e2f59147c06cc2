"""A customer's page on another origin plays a READY video's playback_url to the end with
hls.js in real Chromium: the video is transcoded by the real pipeline from a generated clip,
and every playlist and segment comes through the API's signed play route, from a local
directory and from a private S3 bucket."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.support.api import api_components, api_settings, free_port, live_server, make_tenant
from tests.support.browser import PlayReport, play_hls, player_site
from tests.support.playback import package_of
from tests.support.s3server import new_bucket_name, s3_client
from vodforge.api.app import create_app
from vodforge.bootstrap import Components
from vodforge.cli.runtime import build_runner
from vodforge.domain.states import JobState
from vodforge.playback.signing import PLAY_ROUTE
from vodforge.process import StopToken

pytestmark = pytest.mark.slow


@contextmanager
def api_with_ready_video(
    database_url: str, data_dir: Path, clip: Path, **env: str
) -> Iterator[tuple[str, dict[str, Any], Components]]:
    """The API on a loopback port, serving a video the real pipeline made READY from `clip`.
    Yields the API's base URL, the video JSON its owner sees, and the components."""
    port = free_port()
    settings = api_settings(
        database_url, data_dir, VODFORGE_PUBLIC_URL=f"http://127.0.0.1:{port}", **env
    )
    with api_components(settings) as components:
        owner = make_tenant(components, "customer")
        video = components.videos.submit_file(clip, components.tenants.authenticate(owner.key))
        assert video.current_job_id is not None
        job = components.repo.claim_job_by_id(video.current_job_id, "browser-test-worker")
        assert job is not None
        outcome = build_runner(components).run(job, StopToken())
        assert outcome.state is JobState.SUCCEEDED, outcome.failure
        with live_server(create_app(components), port) as api:
            body = httpx.get(f"{api}/v1/videos/{video.id}", headers=owner.headers).json()
            assert body["status"] == "READY", body
            yield api, body, components


def assert_played_to_the_end(report: PlayReport, duration_s: float) -> None:
    diagnostics = (report.fatal, report.errors, report.failed_requests, report.console[-10:])
    assert report.fatal is None, diagnostics
    assert report.ended, diagnostics
    assert report.failed_requests == [], diagnostics
    assert report.current_time is not None and report.duration is not None
    assert report.current_time == pytest.approx(report.duration, abs=0.3), diagnostics
    assert report.duration == pytest.approx(duration_s, abs=0.5), diagnostics


def assert_fetched_through_the_signed_path(
    report: PlayReport, api: str, video: dict[str, Any]
) -> None:
    """Every request to the API was a signed play URL of this video that answered 2xx, and it
    fetched the master, at least one variant playlist, its init segment and its segments."""
    signed = video["playback_url"].rsplit("/", 1)[0] + "/"
    assert signed.startswith(f"{api}{PLAY_ROUTE}/{video['id']}/")
    to_api = [(url, status) for url, status in report.responses if url.startswith(api)]
    assert to_api, report.responses
    assert all(url.startswith(signed) for url, _ in to_api), to_api
    assert all(status in (200, 206) for _, status in to_api), to_api
    names = {url.removeprefix(signed) for url, _ in to_api}
    assert "master.m3u8" in names
    variants = {name for name in names if name.endswith("/index.m3u8")}
    assert variants and variants <= {f"{r['name']}/index.m3u8" for r in video["renditions"]}
    for variant in variants:
        rendition = variant.split("/")[0]
        assert any(n.startswith(f"{rendition}/") and n.endswith(".mp4") for n in names), names
    segments = sorted(name for name in names if name.endswith(".m4s"))
    # Two segments in the 5-second clip: the player went from one to the next.
    assert len({name.rsplit("/", 1)[1] for name in segments}) >= 2, segments


def test_plays_from_local_storage_on_another_origin(
    browser: Any, sqlite_url: str, tmp_path: Path, clip: Path
) -> None:
    with (
        api_with_ready_video(sqlite_url, tmp_path / "data", clip) as (api, video, _),
        player_site() as site,
    ):
        assert urlsplit(site).netloc != urlsplit(api).netloc  # another origin
        report = play_hls(browser, f"{site}/player.html?src={quote(video['playback_url'])}")
    assert_played_to_the_end(report, video["duration_s"])
    assert_fetched_through_the_signed_path(report, api, video)


def test_plays_from_a_private_s3_bucket_through_the_api(
    browser: Any, sqlite_url: str, tmp_path: Path, clip: Path, s3_endpoint: str
) -> None:
    admin = s3_client(s3_endpoint)
    bucket = new_bucket_name()
    admin.create_bucket(Bucket=bucket)
    admin.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    env = {"VODFORGE_STORAGE_URL": f"s3://{bucket}/vod", "VODFORGE_S3_ENDPOINT_URL": s3_endpoint}
    with api_with_ready_video(sqlite_url, tmp_path / "data", clip, **env) as (api, video, parts):
        master = package_of(parts, video["id"])["master"]
        # Private indeed: without credentials the bucket answers 403, and it has no CORS rules.
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"{s3_endpoint}/{bucket}/vod/{master}", timeout=10)
        assert denied.value.code == 403
        with pytest.raises(admin.exceptions.ClientError, match="NoSuchCORSConfiguration"):
            admin.get_bucket_cors(Bucket=bucket)

        with player_site() as site:
            report = play_hls(browser, f"{site}/player.html?src={quote(video['playback_url'])}")
    assert_played_to_the_end(report, video["duration_s"])
    assert_fetched_through_the_signed_path(report, api, video)
    assert not [url for url, _ in report.responses if url.startswith(s3_endpoint)]
