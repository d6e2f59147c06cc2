"""S3 backend against a real S3-protocol server: content types, presigning, multipart,
batched deletes, and how retried and unretried failures surface."""

from __future__ import annotations

import hashlib
import os
import socket
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.s3server import fault_proxy, seed_objects
from vodforge.errors import ErrorCode, PermanentError, RetryableError
from vodforge.storage import open_storage
from vodforge.storage.base import ObjectNotFound
from vodforge.storage.s3 import S3Storage

MIB = 1024 * 1024
MakeS3 = Callable[..., S3Storage]

EXPECTED_TYPES = {
    "master.m3u8": "application/vnd.apple.mpegurl",
    "720p/index.m3u8": "application/vnd.apple.mpegurl",
    "720p/init.mp4": "video/mp4",
    "720p/seg_00001.m4s": "video/iso.segment",
    "360p/seg_00001.m4s": "video/iso.segment",
    "poster.jpg": "image/jpeg",
}


def test_upload_dir_sets_player_content_types(
    make_s3: MakeS3, s3_admin: Any, s3_bucket: str, hls_dir: Path
) -> None:
    storage = make_s3(prefix="pub")
    keys = storage.upload_dir("videos/v1/attempts/j-1/", hls_dir)
    assert len(keys) == len(EXPECTED_TYPES)
    for name, expected in EXPECTED_TYPES.items():
        head = s3_admin.head_object(Bucket=s3_bucket, Key=f"pub/videos/v1/attempts/j-1/{name}")
        assert head["ContentType"] == expected, name


def test_explicit_content_type_wins(make_s3: MakeS3, s3_admin: Any, s3_bucket: str) -> None:
    make_s3().put_bytes("x/blob", b"{}", content_type="application/json")
    assert s3_admin.head_object(Bucket=s3_bucket, Key="x/blob")["ContentType"] == (
        "application/json"
    )


def test_presigned_url_reads_without_credentials(make_s3: MakeS3) -> None:
    storage = make_s3(prefix="pub")
    storage.put_bytes("videos/v1/master.m3u8", b"#EXTM3U\n#EXT-X-VERSION:7\n")
    url = storage.presigned_url("videos/v1/master.m3u8", 600)
    assert "X-Amz-Signature=" in url and "/pub/videos/v1/master.m3u8" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.read() == b"#EXTM3U\n#EXT-X-VERSION:7\n"
        assert response.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    with pytest.raises(ValueError):
        storage.presigned_url("videos/v1/master.m3u8", 0)


def test_large_file_is_uploaded_in_parts(
    make_s3: MakeS3, s3_admin: Any, s3_bucket: str, tmp_path: Path
) -> None:
    storage = make_s3(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    source = tmp_path / "big.mp4"
    source.write_bytes(os.urandom(12 * MIB))
    storage.put_file("videos/v1/source.mp4", source)

    head = s3_admin.head_object(Bucket=s3_bucket, Key="videos/v1/source.mp4")
    # A multipart ETag is "<md5 of part md5s>-<part count>": 5 + 5 + 2 MiB.
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentLength"] == 12 * MIB
    assert head["ContentType"] == "video/mp4"
    target = tmp_path / "back.mp4"
    storage.download_file("videos/v1/source.mp4", target)
    assert _sha256(target) == _sha256(source)


def test_small_file_is_one_put(
    make_s3: MakeS3, s3_admin: Any, s3_bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "small.mp4"
    source.write_bytes(b"x" * 1000)
    make_s3().put_file("videos/v1/source.mp4", source)
    head = s3_admin.head_object(Bucket=s3_bucket, Key="videos/v1/source.mp4")
    assert "-" not in head["ETag"]


def test_delete_prefix_batches_over_1000_keys(
    make_s3: MakeS3, s3_admin: Any, s3_bucket: str, s3_endpoint: str
) -> None:
    keys = [f"root/videos/v1/attempts/j-1/seg_{index:05d}.m4s" for index in range(1100)]
    seed_objects(s3_bucket, [*keys, "root/videos/v2/source.mp4"])
    storage = make_s3(prefix="root")
    assert len(storage.list_keys("videos/v1/")) == 1100

    # Through a recording proxy to see how many DeleteObjects requests were made.
    with fault_proxy(s3_endpoint, fail_first=0) as proxy:
        deleted = make_s3(prefix="root", endpoint_url=proxy.url).delete_prefix("videos/v1/")

    assert deleted == 1100
    batch_deletes = [r for r in proxy.requests if r[0] == "POST" and "delete" in r[1]]
    assert len(batch_deletes) == 2
    remaining = s3_admin.list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    assert [item["Key"] for item in remaining] == ["root/videos/v2/source.mp4"]


def test_injected_503s_are_retried(make_s3: MakeS3, s3_endpoint: str) -> None:
    with fault_proxy(s3_endpoint, fail_first=2, fail_status=503, fail_code="SlowDown") as proxy:
        make_s3(endpoint_url=proxy.url).put_bytes("videos/v1/source.mp4", b"payload")

    assert proxy.faults_served == 2
    assert [(method, status) for method, _, status in proxy.requests] == [
        ("PUT", 503),
        ("PUT", 503),
        ("PUT", 200),
    ]
    assert make_s3().read_bytes("videos/v1/source.mp4") == b"payload"


def test_persistent_500s_raise_retryable_after_the_configured_attempts(
    make_s3: MakeS3, s3_endpoint: str
) -> None:
    with fault_proxy(
        s3_endpoint, fail_first=None, fail_status=500, fail_code="InternalError"
    ) as proxy:
        storage = make_s3(endpoint_url=proxy.url, max_retries=1)
        with pytest.raises(RetryableError) as caught:
            storage.put_bytes("videos/v1/source.mp4", b"payload")

    assert caught.value.code is ErrorCode.STORAGE_ERROR
    assert caught.value.retryable
    assert len(proxy.requests) == 2
    assert not make_s3().exists("videos/v1/source.mp4")


def test_access_denied_is_permanent_and_not_retried(make_s3: MakeS3, s3_endpoint: str) -> None:
    with fault_proxy(
        s3_endpoint, fail_first=None, fail_status=403, fail_code="AccessDenied"
    ) as proxy:
        storage = make_s3(endpoint_url=proxy.url)
        with pytest.raises(PermanentError) as caught:
            storage.put_bytes("videos/v1/source.mp4", b"payload")

    assert caught.value.code is ErrorCode.STORAGE_ERROR
    assert "AccessDenied" in str(caught.value)
    assert len(proxy.requests) == 1


def test_missing_bucket_is_permanent(s3_endpoint: str) -> None:
    storage = S3Storage("vodforge-no-such-bucket", endpoint_url=s3_endpoint)
    with pytest.raises(PermanentError) as caught:
        storage.put_bytes("videos/v1/source.mp4", b"payload")
    assert caught.value.code is ErrorCode.STORAGE_ERROR
    assert "NoSuchBucket" in str(caught.value)
    with pytest.raises(PermanentError):
        storage.check()


def test_unreachable_endpoint_is_retryable(s3_bucket: str) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    storage = S3Storage(
        s3_bucket, endpoint_url=f"http://127.0.0.1:{port}", max_retries=1, connect_timeout_s=1
    )
    with pytest.raises(RetryableError) as caught:
        storage.read_bytes("videos/v1/source.mp4")
    assert caught.value.code is ErrorCode.STORAGE_ERROR


def test_missing_key_on_download_is_not_found(make_s3: MakeS3, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound):
        make_s3().download_file("videos/v1/source.mp4", tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_open_storage_s3_url_maps_the_prefix(
    s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    storage = open_storage(f"s3://{s3_bucket}/tenant/data/", s3_endpoint_url=s3_endpoint)
    storage.put_bytes("videos/v1/source.mp4", b"abc")
    body = s3_admin.get_object(Bucket=s3_bucket, Key="tenant/data/videos/v1/source.mp4")["Body"]
    assert body.read() == b"abc"
    assert storage.list_keys("videos/") == ["videos/v1/source.mp4"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
