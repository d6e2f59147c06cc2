"""The storage fault proxy itself: each kind of fault reaches a boto3 client as the failure it
stands for, filters pick the requests, and clear() restores pass-through."""

from __future__ import annotations

import time
from typing import Any

import boto3.session
import botocore.exceptions
import pytest
from botocore.config import Config

from tests.faults.harness.s3faults import StorageFaultProxy, classify

# What a reset or refused connection raises in botocore (vodforge maps both to retryable).
NETWORK = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)


def client(url: str, read_timeout: float = 5.0) -> Any:
    """No retries: each call is one request, so every fault shows."""
    config = Config(
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": 1},
        read_timeout=read_timeout,
        connect_timeout=2,
    )
    return boto3.session.Session().client("s3", endpoint_url=url, config=config)


def test_errors_hit_only_the_chosen_method_and_keys(proxy: StorageFaultProxy, bucket: str) -> None:
    s3 = client(proxy.url)
    s3.put_object(Bucket=bucket, Key="videos/a/seg_1.m4s", Body=b"x")
    proxy.set_fault("error", methods={"PUT"}, key_pattern=r"\.m4s$", status=500)

    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="videos/a/seg_2.m4s", Body=b"x")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert caught.value.response["Error"]["Code"] == "InternalError"
    s3.put_object(Bucket=bucket, Key="videos/a/index.m3u8", Body=b"x")  # another key
    assert s3.get_object(Bucket=bucket, Key="videos/a/seg_1.m4s")["Body"].read() == b"x"
    assert proxy.counts["error"] == 1 and proxy.counts["error:put"] == 1

    proxy.clear()
    s3.put_object(Bucket=bucket, Key="videos/a/seg_2.m4s", Body=b"x")
    assert proxy.counts["error"] == 1


def test_every_kth_request_and_a_bounded_number(proxy: StorageFaultProxy, bucket: str) -> None:
    s3 = client(proxy.url)
    proxy.set_fault("error", ops={"put"}, every=3, times=2)
    outcomes = []
    for n in range(9):
        try:
            s3.put_object(Bucket=bucket, Key=f"k{n}", Body=b"x")
            outcomes.append("ok")
        except botocore.exceptions.ClientError:
            outcomes.append("503")
    assert outcomes == ["ok", "ok", "503", "ok", "ok", "503", "ok", "ok", "ok"]
    assert proxy.counts["error"] == 2


def test_copy_and_batch_delete_are_told_apart(proxy: StorageFaultProxy, bucket: str) -> None:
    s3 = client(proxy.url)
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    proxy.set_fault("error", ops={"copy"})
    with pytest.raises(botocore.exceptions.ClientError):
        s3.copy_object(Bucket=bucket, Key="b", CopySource={"Bucket": bucket, "Key": "a"})
    s3.put_object(Bucket=bucket, Key="c", Body=b"x")  # a plain PUT passes
    proxy.set_fault("reset", ops={"delete_batch"}, when="after_body")
    with pytest.raises(NETWORK):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}]})
    assert proxy.counts["error:copy"] == 1 and proxy.counts["reset:delete_batch"] == 1


@pytest.mark.parametrize("when", ["before_body", "after_body"])
def test_reset_closes_the_connection_mid_request(
    proxy: StorageFaultProxy, bucket: str, when: str
) -> None:
    s3 = client(proxy.url)
    proxy.set_fault("reset", methods={"PUT"}, when=when)
    with pytest.raises(NETWORK):
        s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 200_000)
    assert proxy.counts["reset"] == 1
    proxy.clear()
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")


def test_timeout_holds_the_request_past_the_read_timeout(
    proxy: StorageFaultProxy, bucket: str
) -> None:
    s3 = client(proxy.url, read_timeout=0.5)
    proxy.set_fault("timeout", ops={"head"}, hold_s=3)
    started = time.monotonic()
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        s3.head_bucket(Bucket=bucket)  # HeadBucket is a HEAD without a key
    assert time.monotonic() - started < 2.5  # the client gave up; the proxy still held it
    assert proxy.counts["timeout"] == 1


def test_outage_resets_every_connection_until_cleared(
    proxy: StorageFaultProxy, bucket: str
) -> None:
    s3 = client(proxy.url)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")  # a keep-alive connection is open
    proxy.set_fault("outage")
    for _ in range(3):
        with pytest.raises(NETWORK):
            s3.get_object(Bucket=bucket, Key="k")
    with pytest.raises(NETWORK):
        client(proxy.url).get_object(Bucket=bucket, Key="k")  # a fresh connection too
    assert proxy.counts["outage"] >= 4
    proxy.clear()
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_classify_names_s3_operations() -> None:
    copy = {"x-amz-copy-source": "/b/a"}
    assert classify("PUT", "/b/videos/x.m4s", {}) == ("put", "videos/x.m4s")
    assert classify("PUT", "/b/x", copy) == ("copy", "x")
    assert classify("PUT", "/b/x?partNumber=1&uploadId=u", {}) == ("upload_part", "x")
    assert classify("POST", "/b/x?uploads", {}) == ("create_multipart", "x")
    assert classify("POST", "/b/x?uploadId=u", {}) == ("complete_multipart", "x")
    assert classify("POST", "/b?delete", {}) == ("delete_batch", "")
    assert classify("GET", "/b?list-type=2&prefix=v/", {}) == ("list", "")
    assert classify("GET", "/b/v/a%20b", {}) == ("get", "v/a b")
    assert classify("DELETE", "/b/x", {}) == ("delete", "x")
    with pytest.raises(ValueError):
        StorageFaultProxy("http://127.0.0.1:1").set_fault("meteor")
