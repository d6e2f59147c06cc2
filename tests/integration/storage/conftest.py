"""Storage fixtures: one contract fixture over local, memory and S3 (a real moto server)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.s3server import aws_test_env, moto_server, new_bucket_name, s3_client
from vodforge.storage.base import Storage
from vodforge.storage.local import LocalStorage
from vodforge.storage.memory import MemoryStorage
from vodforge.storage.s3 import S3Storage

MakeS3 = Callable[..., S3Storage]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with aws_test_env(), moto_server() as endpoint_url:
        yield endpoint_url


@pytest.fixture(scope="session")
def s3_admin(s3_endpoint: str) -> Any:
    """A plain boto3 client on the test server, to set up and inspect behind the backend."""
    return s3_client(s3_endpoint)


@pytest.fixture
def s3_bucket(s3_admin: Any) -> str:
    """A fresh, empty bucket per test: tests never share objects."""
    bucket = new_bucket_name()
    s3_admin.create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def make_s3(s3_endpoint: str, s3_bucket: str) -> MakeS3:
    """S3Storage on the test bucket; options (endpoint_url, max_attempts, ...) override."""

    def make(**options: Any) -> S3Storage:
        options.setdefault("endpoint_url", s3_endpoint)
        return S3Storage(s3_bucket, **options)

    return make


@pytest.fixture(params=["local", "memory", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    if request.param == "memory":
        return MemoryStorage()
    make_s3: MakeS3 = request.getfixturevalue("make_s3")
    # A bucket prefix, as in s3://bucket/prefix: keys must come back relative to it.
    return make_s3(prefix="deploy/root")


HLS_FILES = {
    "master.m3u8": b"#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n",
    "720p/index.m3u8": b"#EXTM3U\n#EXT-X-VERSION:7\n",
    "720p/init.mp4": b"\x00\x00\x00\x18ftypiso6",
    "720p/seg_00001.m4s": b"\x00\x00\x00\x10moof" * 10,
    "360p/seg_00001.m4s": b"\x00\x00\x00\x10moof" * 3,
    "poster.jpg": b"\xff\xd8\xff\xe0JFIF",
}


@pytest.fixture
def hls_files() -> dict[str, bytes]:
    """A small HLS package as the transcoder leaves it: relative path -> content."""
    return dict(HLS_FILES)


@pytest.fixture
def hls_dir(tmp_path: Path, hls_files: dict[str, bytes]) -> Path:
    root = tmp_path / "package"
    for relative, data in hls_files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root
