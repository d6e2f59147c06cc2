"""The API over a real socket (uvicorn on loopback): headers as a client library sees them, and
concurrent requests sharing the database pool."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.api import TenantKey, live_server
from tests.support.errors import assert_error
from tests.support.videos import queued_video, ready_video
from vodforge.api.app import create_app
from vodforge.bootstrap import Components


def test_the_api_over_a_socket(components: Components, alice: TenantKey, bob: TenantKey) -> None:
    videos = [queued_video(components, "alice", f"q{n}") for n in range(5)]
    videos.append(ready_video(components, "alice"))
    with live_server(create_app(components)) as base, httpx.Client(base_url=base) as http:
        denied = http.get("/v1/videos")
        assert_error(denied, 401, "UNAUTHORIZED")
        assert denied.headers["www-authenticate"] == "Bearer"
        assert_error(http.get(f"/v1/videos/{videos[0]}", headers=bob.headers), 404, "NOT_FOUND")

        def fetch(video_id: str) -> int:
            with httpx.Client(base_url=base, timeout=30) as own:
                return own.get(f"/v1/videos/{video_id}", headers=alice.headers).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(fetch, videos * 8))
        assert statuses == [200] * len(videos) * 8
        metrics = http.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain; version=")
        assert 'route="/v1/videos/{video_id}",status="200"} 48.0' in metrics.text
