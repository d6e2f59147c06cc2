"""A upload far larger than memory costs the API the same memory as a small one: 1 GiB,
made on the fly by the test (never held), goes through a real `vodforge api` process as a
multipart body and as one tus PATCH, and the process's peak RSS stays bounded."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.api import api_components, api_settings, make_tenant
from tests.support.cli import cli_env
from tests.support.uploads import (
    MIB,
    api_process,
    multipart_body,
    multipart_headers,
    multipart_length,
    pattern_chunks,
)

pytestmark = pytest.mark.slow

SIZE = 1024 * MIB
PEAK_RSS_LIMIT = 150 * MIB


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("how", ["multipart", "tus"])
def test_a_1_gib_upload_keeps_the_api_rss_bounded(
    database_url: str, tmp_path: Path, how: str
) -> None:
    data_dir = tmp_path / "data"
    with api_components(api_settings(database_url, data_dir)) as components:
        tenant = make_tenant(components, "big")
    env = cli_env(database_url, data_dir)

    with (
        api_process(env, tmp_path / "api.log") as api,
        httpx.Client(base_url=api.base_url, timeout=300) as client,
    ):
        idle = api.peak_rss_bytes()
        if how == "multipart":
            response = client.post(
                "/v1/videos",
                headers={
                    **multipart_headers(tenant.headers),
                    "Content-Length": str(multipart_length(SIZE)),
                },
                content=multipart_body(pattern_chunks(SIZE)),
            )
            assert response.status_code == 201, response.text
            video_id = response.json()["id"]
        else:
            tus = {**tenant.headers, "Tus-Resumable": "1.0.0"}
            created = client.post("/v1/uploads/tus", headers={**tus, "Upload-Length": str(SIZE)})
            final = client.patch(
                created.headers["Location"],
                headers={
                    **tus,
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Offset": "0",
                    "Content-Length": str(SIZE),
                },
                content=pattern_chunks(SIZE),
            )
            assert final.status_code == 204, final.text
            video_id = final.headers["Vodforge-Video-Id"]
        peak = api.peak_rss_bytes()

    stored = data_dir / "storage" / "videos" / video_id / "source.mp4"
    if how == "tus":
        stored = stored.with_name("source.bin")
    assert stored.stat().st_size == SIZE
    assert peak < PEAK_RSS_LIMIT, f"peak RSS {peak / MIB:.0f} MiB (idle {idle / MIB:.0f} MiB)"
    # Not a leak of the body either: the upload added little on top of the idle process.
    assert peak - idle < 64 * MIB, f"peak RSS {peak / MIB:.0f} MiB (idle {idle / MIB:.0f} MiB)"
