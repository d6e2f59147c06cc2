"""Uploads end READY: a real clip sent through a live API, as a multipart body and as a tus
upload that is cut off and resumed, is transcoded by a worker running the product's runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tusclient.client import TusClient

from tests.support.api import (
    TenantKey,
    api_components,
    api_settings,
    live_server,
    make_tenant,
    wait_for_status,
)
from tests.support.clips import make_clip
from tests.support.uploads import send_partial, wait_until
from vodforge.api.app import create_app
from vodforge.bootstrap import Components
from vodforge.cli.runtime import build_runner
from vodforge.worker.runtime import Worker

pytestmark = pytest.mark.slow

CHUNK = 32 * 1024


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(
        tmp_path_factory.mktemp("clips") / "lesson.mp4", width=640, height=360, fps=24, duration_s=2
    )


@pytest.fixture
def components(database_url: str, tmp_path: Path) -> Iterator[Components]:
    with api_components(api_settings(database_url, tmp_path / "data")) as components:
        yield components


@pytest.fixture
def api(components: Components) -> Iterator[httpx.Client]:
    """The live API with one worker in the same process, as `vodforge up` runs them."""
    worker = Worker(components.repo, build_runner(components), poll_interval_s=0.2)
    worker.start()
    try:
        with (
            live_server(create_app(components)) as base,
            httpx.Client(base_url=base, timeout=60) as client,
        ):
            yield client
    finally:
        worker.request_shutdown()
        assert worker.join(timeout=60)


@pytest.fixture
def tenant(components: Components) -> TenantKey:
    return make_tenant(components, "academy")


def assert_ready(api: httpx.Client, tenant: TenantKey, video_id: str, title: str) -> None:
    video = wait_for_status(api, video_id, tenant.headers, {"READY", "FAILED"}, timeout=180)
    assert video["status"] == "READY", video
    assert video["title"] == title and video["error"] is None
    assert video["playback_url"]


def test_a_multipart_upload_ends_ready(api: httpx.Client, tenant: TenantKey, clip: Path) -> None:
    with clip.open("rb") as stream:
        response = api.post(
            "/v1/videos",
            headers=tenant.headers,
            files={"file": ("lesson.mp4", stream, "video/mp4")},
            data={"title": "Lesson 1"},
        )
    assert response.status_code == 201, response.text
    assert_ready(api, tenant, response.json()["id"], "Lesson 1")


def test_a_tus_upload_cut_off_and_resumed_ends_ready(
    api: httpx.Client, components: Components, tenant: TenantKey, clip: Path
) -> None:
    data = clip.read_bytes()
    endpoint = f"{api.base_url}/v1/uploads/tus"
    with clip.open("rb") as stream:
        first = TusClient(endpoint, headers=tenant.headers).uploader(
            file_stream=stream, chunk_size=CHUNK, metadata={"filename": "lesson.mp4"}
        )
        first.upload(stop_at=2 * CHUNK)
    url = str(first.url)
    tus = {**tenant.headers, "Tus-Resumable": "1.0.0"}
    cut = {**tus, "Content-Type": "application/offset+octet-stream"}
    cut |= {"Upload-Offset": str(2 * CHUNK), "Content-Length": str(CHUNK)}
    send_partial(url, "PATCH", cut, data[2 * CHUNK : 2 * CHUNK + 1000])
    assert wait_until(lambda: api.head(url, headers=tus).headers["Upload-Offset"] != str(2 * CHUNK))

    with clip.open("rb") as stream:
        second = TusClient(endpoint, headers=tenant.headers).uploader(
            file_stream=stream, chunk_size=CHUNK, url=url
        )
        assert second.offset == 2 * CHUNK + 1000
        second.upload()

    video_id = second.request.response_headers["vodforge-video-id"]
    source = components.videos_repo.get_video(video_id).source_key
    assert source is not None and components.storage.read_bytes(source) == data
    assert_ready(api, tenant, video_id, "lesson.mp4")
