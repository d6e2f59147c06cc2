"""Storage faults on multipart uploads (issue 10): a source of 8 MiB or more goes to S3 in
parts (CreateMultipartUpload, UploadPart × n, CompleteMultipartUpload), each of which can fail
on its own. Through the fault proxy, against a real S3 server (moto), the storage must either
store the whole file, byte for byte, or raise a retryable STORAGE_ERROR and leave nothing
behind: no object, and no unfinished multipart upload holding its parts (which S3 keeps, and
bills, until someone aborts it).

The storage is vodforge's own S3Storage, with botocore's retries cut from 8 to 2 so a fault
that never clears fails in seconds; what is tested (retry, then abort) does not depend on the
count.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness.s3faults import StorageFaultProxy
from tests.support.s3server import s3_client
from vodforge.errors import ErrorCode, VodforgeError
from vodforge.storage.s3 import MIB, S3Storage

SIZE = 20 * MIB + 12345  # three parts of 8 MiB, the last one short
PREFIX = "multipart"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("multipart") / "source.mp4"
    path.write_bytes(os.urandom(SIZE))
    return path


def storage_through(proxy: StorageFaultProxy, bucket: str) -> S3Storage:
    return S3Storage(bucket, PREFIX, endpoint_url=proxy.url, max_retries=2, read_timeout_s=5)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unfinished_uploads(direct: Any, bucket: str) -> list[str]:
    listed = direct.list_multipart_uploads(Bucket=bucket)
    return [str(upload["Key"]) for upload in listed.get("Uploads", [])]


FLAKY = {
    # Every other part answered 503, or 500; connections reset before or after the body.
    "part-503": {"kind": "error", "ops": {"upload_part"}, "every": 2},
    "part-500": {"kind": "error", "ops": {"upload_part"}, "every": 2, "status": 500},
    "part-reset": {"kind": "reset", "ops": {"upload_part"}, "every": 2},
    "part-reset-after-body": {
        "kind": "reset",
        "ops": {"upload_part"},
        "every": 2,
        "when": "after_body",
    },
    # The first create and the first complete fail once.
    "create-503": {"kind": "error", "ops": {"create_multipart"}, "times": 1},
    "complete-503": {"kind": "error", "ops": {"complete_multipart"}, "times": 1},
    "complete-reset-after-body": {
        "kind": "reset",
        "ops": {"complete_multipart"},
        "times": 1,
        "when": "after_body",
    },
}


@pytest.mark.parametrize("name", sorted(FLAKY))
def test_a_flaky_multipart_upload_stores_the_whole_file(
    name: str, proxy: StorageFaultProxy, bucket: str, s3_endpoint: str, source: Path
) -> None:
    fault = dict(FLAKY[name])
    proxy.set_fault(fault.pop("kind"), **fault)
    storage_through(proxy, bucket).put_file("videos/v/source.mp4", source)
    hits = sum(proxy.counts.values())
    proxy.clear()
    assert hits > 0, "the fault never hit a request"
    direct = s3_client(s3_endpoint)
    stored = direct.get_object(Bucket=bucket, Key=f"{PREFIX}/videos/v/source.mp4")["Body"].read()
    assert len(stored) == SIZE and sha256(stored) == sha256(source.read_bytes())
    assert unfinished_uploads(direct, bucket) == []


GIVE_UP = {
    # Every part, every create, or every complete refused until botocore gives up.
    "every-part-503": {"kind": "error", "ops": {"upload_part"}},
    "every-part-reset": {"kind": "reset", "ops": {"upload_part"}},
    "every-create-503": {"kind": "error", "ops": {"create_multipart"}},
    "every-complete-500": {"kind": "error", "ops": {"complete_multipart"}, "status": 500},
    "outage": {"kind": "outage"},
}


@pytest.mark.parametrize("name", sorted(GIVE_UP))
def test_a_multipart_upload_that_cannot_finish_is_a_storage_error_leaving_nothing(
    name: str, proxy: StorageFaultProxy, bucket: str, s3_endpoint: str, source: Path
) -> None:
    fault = dict(GIVE_UP[name])
    proxy.set_fault(fault.pop("kind"), **fault)
    with pytest.raises(VodforgeError) as caught:
        storage_through(proxy, bucket).put_file("videos/v/source.mp4", source)
    proxy.clear()
    assert caught.value.code is ErrorCode.STORAGE_ERROR and caught.value.retryable, caught.value
    direct = s3_client(s3_endpoint)
    listed = direct.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert listed == [], [item["Key"] for item in listed]
    assert unfinished_uploads(direct, bucket) == []
