"""Key grammar, key layout, content types, URL parsing and S3 error mapping: pure code."""

from __future__ import annotations

import tempfile
from pathlib import Path

import botocore.exceptions
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vodforge.errors import ConfigError, ErrorCode, PermanentError, RetryableError
from vodforge.storage import open_storage
from vodforge.storage.base import (
    ObjectNotFound,
    attempt_prefix,
    check_key,
    check_prefix,
    content_type_for,
    join_key,
    source_key,
    video_prefix,
)
from vodforge.storage.local import LocalStorage
from vodforge.storage.memory import MemoryStorage
from vodforge.storage.s3 import S3Storage, map_s3_error

VIDEO = "0b6f8a52-9a39-4c8e-8d1e-5b0f3f0c7e11"
JOB = "5c2b3f9e-1d7a-4a8b-9f2e-3c4d5e6f7a8b"


@pytest.mark.parametrize(
    "key",
    ["a", "videos/v/source.mp4", "a/b/c.d", "x..y/z", "seg_0001.m4s", "é/ünïcode"],
)
def test_valid_keys(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/a",
        "a/",
        "a//b",
        "..",
        "../a",
        "a/..",
        "a/../b",
        ".",
        "a/./b",
        ".env",
        "a\\b",
        "a\x00b",
        "a\nb",
        "x" * 1025,
    ],
)
def test_invalid_keys(key: str) -> None:
    with pytest.raises(ValueError):
        check_key(key)


def test_prefixes() -> None:
    assert check_prefix("") == ""
    assert check_prefix("videos/") == "videos/"
    assert check_prefix("videos/a") == "videos/a"
    for bad in ("/", "//", "../", "a//", "/videos/"):
        with pytest.raises(ValueError):
            check_prefix(bad)
    assert join_key("videos/v/", "a.m3u8") == "videos/v/a.m3u8"
    assert join_key("videos/v", "a.m3u8") == "videos/v/a.m3u8"
    assert join_key("", "a.m3u8") == "a.m3u8"


def test_key_layout() -> None:
    assert video_prefix(VIDEO) == f"videos/{VIDEO}/"
    assert source_key(VIDEO, ".MP4") == f"videos/{VIDEO}/source.mp4"
    assert source_key(VIDEO, "mov") == f"videos/{VIDEO}/source.mov"
    assert source_key(VIDEO, "") == f"videos/{VIDEO}/source"
    assert attempt_prefix(VIDEO, JOB, 2) == f"videos/{VIDEO}/attempts/{JOB}-2/"
    # Everything of a video, sources and every attempt, sits under its prefix.
    assert source_key(VIDEO, "mp4").startswith(video_prefix(VIDEO))
    assert attempt_prefix(VIDEO, JOB, 1).startswith(video_prefix(VIDEO))
    assert attempt_prefix(VIDEO, JOB, 1) != attempt_prefix(VIDEO, JOB, 2)


@pytest.mark.parametrize(
    "call",
    [
        lambda: video_prefix("a/b"),
        lambda: video_prefix(".."),
        lambda: video_prefix(""),
        lambda: source_key(VIDEO, "mp4/../../x"),
        lambda: attempt_prefix(VIDEO, "../j", 1),
        lambda: attempt_prefix(VIDEO, JOB, 0),
    ],
)
def test_key_layout_rejects_unsafe_ids(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a/master.m3u8", "application/vnd.apple.mpegurl"),
        ("a/720p/index.M3U8", "application/vnd.apple.mpegurl"),
        ("a/seg_00001.m4s", "video/iso.segment"),
        ("a/init.mp4", "video/mp4"),
        ("a/poster.jpg", "image/jpeg"),
        ("a/thumb.jpeg", "image/jpeg"),
        ("a/seg.ts", "video/mp2t"),
        ("a/blob", "application/octet-stream"),
    ],
)
def test_content_types(key: str, expected: str) -> None:
    assert content_type_for(key) == expected


def test_open_storage_urls(tmp_path: Path) -> None:
    local = open_storage(f"file://{tmp_path}/store")
    assert isinstance(local, LocalStorage) and local.root == tmp_path / "store"
    assert isinstance(open_storage("memory://"), MemoryStorage)
    s3 = open_storage("s3://my-bucket/some/prefix", s3_endpoint_url="http://127.0.0.1:9")
    assert isinstance(s3, S3Storage)
    assert (s3.bucket, s3.prefix) == ("my-bucket", "some/prefix/")
    assert s3.object_name("videos/v/a.m4s") == "some/prefix/videos/v/a.m4s"
    bare = open_storage("s3://my-bucket")
    assert isinstance(bare, S3Storage) and bare.prefix == ""
    for bad in (
        "file://relative/dir",
        "file://host/abs",
        "s3:///prefix",
        "ftp://x/y",
        "/plain",
        "s3://bucket/a/../b",
    ):
        with pytest.raises(ConfigError):
            open_storage(bad)


def _client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_client_error("NoSuchKey", 404), ObjectNotFound),
        (_client_error("404", 404), ObjectNotFound),
        (_client_error("NoSuchBucket", 404), PermanentError),
        (_client_error("AccessDenied", 403), PermanentError),
        (_client_error("InvalidRequest", 400), PermanentError),
        (_client_error("SlowDown", 503), RetryableError),
        (_client_error("InternalError", 500), RetryableError),
        (_client_error("RequestTimeout", 400), RetryableError),
        (_client_error("TooManyRequests", 429), RetryableError),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), RetryableError),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"), RetryableError),
        (botocore.exceptions.NoCredentialsError(), PermanentError),
    ],
)
def test_s3_error_mapping(error: Exception, expected: type[Exception]) -> None:
    mapped = map_s3_error(error, "upload", "videos/v/source.mp4")
    assert type(mapped) is expected
    if expected is not ObjectNotFound:
        assert mapped.code is ErrorCode.STORAGE_ERROR


def test_missing_key_without_a_key_is_not_object_not_found() -> None:
    assert type(map_s3_error(_client_error("NoSuchKey", 404), "list")) is PermanentError


@given(st.text(alphabet=st.sampled_from(list("ab./\\\x00 _-")), max_size=24))
def test_no_key_resolves_outside_the_local_root(key: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        storage = LocalStorage(Path(directory) / "root")
        try:
            path = storage.local_path(key)
        except ValueError:
            return
        assert path.resolve().is_relative_to(storage.root)
        assert path != storage.root
