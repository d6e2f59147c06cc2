"""Pipeline fixtures: small generated clips made once per run, and a moto S3 server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.clips import make_clip
from tests.support.s3server import aws_test_env, moto_server, new_bucket_name, s3_client


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of 854x480 with audio: two renditions (480p, 360p), quick to transcode."""
    return make_clip(
        tmp_path_factory.mktemp("clips") / "short.mp4", width=854, height=480, fps=24, duration_s=2
    )


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s of 1280x720: still transcoding many seconds after ffmpeg starts on 2 cores."""
    return make_clip(
        tmp_path_factory.mktemp("clips") / "long.mp4",
        width=1280,
        height=720,
        fps=30,
        duration_s=20,
        audio=False,
    )


@pytest.fixture(scope="session")
def pipeline_s3_endpoint() -> Iterator[str]:
    with aws_test_env(), moto_server() as endpoint_url:
        yield endpoint_url


@pytest.fixture
def pipeline_s3_bucket(pipeline_s3_endpoint: str) -> tuple[Any, str]:
    """A fresh bucket on the test server and a plain client to inspect it."""
    client = s3_client(pipeline_s3_endpoint)
    bucket = new_bucket_name()
    client.create_bucket(Bucket=bucket)
    return client, bucket
