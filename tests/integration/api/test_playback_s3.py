"""The play route over S3 storage (a real moto server, a private bucket under a prefix): the API
is the signing proxy, so whole files, ranges and HEAD come through it with no bucket access."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import api_components, api_settings, make_tenant
from tests.support.api import test_client as in_process_client
from tests.support.errors import assert_error
from tests.support.playback import package_files, path_of, play_base, ready_with_files
from tests.support.s3server import aws_test_env, moto_server, new_bucket_name, s3_client
from vodforge.bootstrap import Components


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with aws_test_env(), moto_server() as endpoint_url:
        yield endpoint_url


@pytest.fixture
def s3_components(database_url: str, tmp_path: Path, s3_endpoint: str) -> Iterator[Components]:
    bucket = new_bucket_name()
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    settings = api_settings(
        database_url,
        tmp_path / "data",
        VODFORGE_STORAGE_URL=f"s3://{bucket}/deploy",
        VODFORGE_S3_ENDPOINT_URL=s3_endpoint,
    )
    with api_components(settings) as components:
        yield components


def test_files_ranges_and_head_come_from_a_private_bucket_through_the_api(
    s3_components: Components, s3_endpoint: str
) -> None:
    files = package_files()
    owner = make_tenant(s3_components, "alice")
    video_id = ready_with_files(s3_components, owner.key, files)
    with in_process_client(s3_components) as client:
        body: dict[str, Any] = client.get(f"/v1/videos/{video_id}", headers=owner.headers).json()
        base = play_base(body["playback_url"])
        segment = files["360p/seg_00001.m4s"]

        master = client.get(path_of(body["playback_url"]))
        assert master.status_code == 200 and master.content == files["master.m3u8"]
        assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
        assert master.headers["etag"].strip('"')  # S3's own ETag

        whole = client.get(base + "360p/seg_00001.m4s")
        assert whole.content == segment
        assert whole.headers["content-length"] == str(len(segment))

        ranged = client.get(base + "360p/seg_00001.m4s", headers={"Range": "bytes=70000-140000"})
        assert ranged.status_code == 206
        assert ranged.headers["content-range"] == f"bytes 70000-140000/{len(segment)}"
        assert ranged.content == segment[70000:140001]

        head = client.head(base + "poster.jpg")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(files["poster.jpg"]))

        assert_error(client.get(base + "360p/seg_00099.m4s"), 404, "NOT_FOUND")
        # The source sits in the same bucket, beside the package: never reachable.
        assert_error(client.get(base + "%2e%2e/source.mp4"), 404, "NOT_FOUND")
