"""Storage in an S3-compatible bucket (AWS S3, R2, MinIO, a local S3 server)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import boto3.session  # type: ignore[import-untyped, unused-ignore]
import botocore.exceptions  # type: ignore[import-untyped, unused-ignore]
import s3transfer.exceptions  # type: ignore[import-untyped, unused-ignore]
from boto3.s3.transfer import (  # type: ignore[import-untyped, unused-ignore]
    TransferConfig,
    create_transfer_manager,
)
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

from vodforge.errors import ErrorCode, PermanentError, RetryableError, VodforgeError
from vodforge.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    SpanReader,
    Storage,
    check_key,
    check_prefix,
    check_span,
    content_type_for,
)

MIB = 1024 * 1024
DELETE_BATCH = 1000  # the DeleteObjects limit
MAX_PRESIGN_S = 7 * 24 * 3600  # the SigV4 limit

# Codes S3 and compatible stores use for "slow down" and transient server trouble.
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
    }
)
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_NETWORK_ERRORS: tuple[type[Exception], ...] = (
    botocore.exceptions.ConnectionError,  # endpoint unreachable, timeouts, dropped connections
    botocore.exceptions.HTTPClientError,  # includes ResponseStreamingError
    botocore.exceptions.IncompleteReadError,
    s3transfer.exceptions.RetriesExceededError,
)


def map_s3_error(exc: Exception, action: str, key: str | None = None) -> VodforgeError:
    """The vodforge error for a boto3 failure that survived botocore's own retries.

    4xx (NoSuchBucket, AccessDenied, bad request) repeats on another attempt: permanent.
    5xx, throttling and network failures may not: retryable. Both carry STORAGE_ERROR.
    """
    where = f"{action} {key!r}" if key is not None else action
    if isinstance(exc, botocore.exceptions.ClientError):
        response: Any = exc.response
        code = str(response.get("Error", {}).get("Code", ""))
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = f"storage {where} failed: {code or status} {exc}"
        if key is not None and code in _MISSING_KEY_CODES:  # NoSuchBucket is not one
            return ObjectNotFound(f"no stored object {key!r}")
        if status >= 500 or status in (408, 429) or code in _TRANSIENT_CODES:
            return RetryableError(message, code=ErrorCode.STORAGE_ERROR)
        return PermanentError(message, code=ErrorCode.STORAGE_ERROR)
    if isinstance(exc, _NETWORK_ERRORS):
        return RetryableError(f"storage {where} failed: {exc}", code=ErrorCode.STORAGE_ERROR)
    # Missing credentials, invalid parameters: configuration that another attempt repeats.
    return PermanentError(f"storage {where} failed: {exc}", code=ErrorCode.STORAGE_ERROR)


class S3Storage(Storage):
    """Objects under `prefix` in `bucket`; keys are relative to the prefix.

    botocore retries each request (standard mode, up to `max_retries` times after the first
    try; botocore calls this `max_attempts`) before an error
    reaches map_s3_error. Files at or above `multipart_threshold` are uploaded in parts.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        max_retries: int = 8,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 60.0,
        multipart_threshold: int = 8 * MIB,
        multipart_chunksize: int = 8 * MIB,
        transfer_concurrency: int = 8,
        upload_workers: int = 8,
        addressing_style: str | None = None,
    ) -> None:
        if not bucket or "/" in bucket:
            raise ValueError(f"bad bucket name: {bucket!r}")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.bucket = bucket
        self.prefix = check_prefix(prefix)
        self.upload_workers = upload_workers
        self._transfer_config = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=transfer_concurrency,
        )
        self._multipart_threshold = multipart_threshold
        options: dict[str, Any] = {
            "retries": {"max_attempts": max_retries, "mode": "standard"},
            "connect_timeout": connect_timeout_s,
            "read_timeout": read_timeout_s,
            "max_pool_connections": upload_workers + transfer_concurrency,
            "signature_version": "s3v4",
            # Virtual-hosted names do not resolve for an IP or localhost endpoint.
            "s3": {"addressing_style": addressing_style or ("path" if endpoint_url else "auto")},
        }
        if endpoint_url:
            # Several S3-compatible stores reject the CRC trailers botocore now sends.
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        # A session per storage: boto3's default session is not safe to share across threads.
        session = boto3.session.Session()
        self._client: Any = session.client(
            "s3", endpoint_url=endpoint_url, region_name=region_name, config=Config(**options)
        )

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r})"

    @property
    def client(self) -> Any:
        """The boto3 S3 client (for diagnostics and tests)."""
        return self._client

    def object_name(self, key: str) -> str:
        """The S3 object key that holds storage key `key`."""
        return self.prefix + check_key(key)

    def check(self) -> None:
        with self._errors("check bucket", None):
            self._client.head_bucket(Bucket=self.bucket)

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        name = self.object_name(key)
        extra = {"ContentType": content_type or content_type_for(key)}
        path = Path(path)
        if path.stat().st_size < self._multipart_threshold:
            with open(path, "rb") as body, self._errors("upload", key):
                self._client.put_object(Bucket=self.bucket, Key=name, Body=body, **extra)
            return
        with self._errors("upload", key), self._transfers() as transfers:
            transfers.upload(str(path), self.bucket, name, extra_args=extra).result()

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        name = self.object_name(key)
        with self._errors("upload", key):
            self._client.put_object(
                Bucket=self.bucket,
                Key=name,
                Body=bytes(data),
                ContentType=content_type or content_type_for(key),
            )

    def copy_object(self, source: str, target: str) -> None:
        """A server-side copy: the bytes never leave the bucket (objects up to 5 GB)."""
        with self._errors("copy", source):
            self._client.copy_object(
                Bucket=self.bucket,
                Key=self.object_name(target),
                CopySource={"Bucket": self.bucket, "Key": self.object_name(source)},
                ContentType=content_type_for(target),
                MetadataDirective="REPLACE",
            )

    def download_file(self, key: str, path: Path) -> None:
        name = self.object_name(key)
        destination = Path(path)
        destination.parent.mkdir(parents=True, exist_ok=True)
        # The transfer manager writes a temporary file and renames it: no torn downloads.
        with self._errors("download", key), self._transfers() as transfers:
            transfers.download(self.bucket, name, str(destination)).result()

    def read_bytes(self, key: str) -> bytes:
        name = self.object_name(key)
        with self._errors("read", key):
            response = self._client.get_object(Bucket=self.bucket, Key=name)
            with contextlib.closing(response["Body"]) as body:
                return cast(bytes, body.read())

    def exists(self, key: str) -> bool:
        name = self.object_name(key)
        try:
            self._client.head_object(Bucket=self.bucket, Key=name)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_KEY_CODES:
                return False
            raise map_s3_error(exc, "check", key) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise map_s3_error(exc, "check", key) from exc
        return True

    def size(self, key: str) -> int:
        name = self.object_name(key)
        with self._errors("check", key):
            return int(self._client.head_object(Bucket=self.bucket, Key=name)["ContentLength"])

    def stat(self, key: str) -> ObjectInfo:
        name = self.object_name(key)
        with self._errors("check", key):
            head = self._client.head_object(Bucket=self.bucket, Key=name)
        modified = head.get("LastModified")
        return ObjectInfo(
            int(head["ContentLength"]),
            str(head.get("ETag") or "").strip('"') or None,
            modified.timestamp() if modified is not None else None,
        )

    def open_range(self, key: str, offset: int, length: int) -> SpanReader:
        check_span(offset, length)
        name = self.object_name(key)
        if length == 0:  # a Range header cannot ask for no bytes
            self.stat(key)
            return SpanReader(lambda _size: b"", lambda: None, 0)
        with self._errors("read", key):
            response = self._client.get_object(
                Bucket=self.bucket, Key=name, Range=f"bytes={offset}-{offset + length - 1}"
            )
        body = response["Body"]

        def read(size: int) -> bytes:
            # A connection that drops mid-body surfaces here, while the caller iterates.
            with self._errors("read", key):
                return cast(bytes, body.read(size))

        return SpanReader(read, body.close, length)

    def presigned_put_url(self, key: str, expires_s: int, content_type: str) -> str:
        return str(
            self._client.generate_presigned_url(
                "put_object",
                Params={"Bucket": self.bucket, "Key": self.object_name(key)},
                ExpiresIn=expires_s,
            )
        )

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(self._list_names(check_prefix(prefix)))

    def list_objects(self, prefix: str) -> Iterator[tuple[str, ObjectInfo]]:
        # ListObjectsV2 already carries size, ETag and LastModified: no HEAD per key.
        paginator = self._client.get_paginator("list_objects_v2")
        strip = len(self.prefix)
        with self._errors("list", check_prefix(prefix) or None):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []):
                    modified = item.get("LastModified")
                    yield (
                        str(item["Key"])[strip:],
                        ObjectInfo(
                            int(item.get("Size", 0)),
                            str(item.get("ETag") or "").strip('"') or None,
                            modified.timestamp() if modified is not None else None,
                        ),
                    )

    def delete_key(self, key: str) -> None:
        name = self.object_name(key)
        with self._errors("delete", key):
            self._client.delete_object(Bucket=self.bucket, Key=name)

    def delete_prefix(self, prefix: str) -> int:
        if not check_prefix(prefix):
            raise ValueError("refusing to delete with an empty prefix")
        keys = list(self._list_names(prefix))
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            objects = [{"Key": self.prefix + key} for key in batch]
            with self._errors("delete", prefix):
                response = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                failure = botocore.exceptions.ClientError(
                    {"Error": {"Code": first.get("Code", ""), "Message": first.get("Message", "")}},
                    "DeleteObjects",
                )
                detail = f"{len(errors)} of {len(batch)} keys under {prefix!r}"
                raise map_s3_error(failure, f"delete ({detail})")
        return len(keys)

    def presigned_url(self, key: str, expires_s: int) -> str:
        name = self.object_name(key)
        if not 1 <= expires_s <= MAX_PRESIGN_S:
            raise ValueError(f"expires_s must be within 1..{MAX_PRESIGN_S}, got {expires_s}")
        with self._errors("sign", key):
            url = self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": name},
                ExpiresIn=expires_s,
            )
        return cast(str, url)

    def _list_names(self, prefix: str) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        strip = len(self.prefix)
        with self._errors("list", prefix or None):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []):
                    yield str(item["Key"])[strip:]

    @contextlib.contextmanager
    def _transfers(self) -> Iterator[Any]:
        # Per call: the manager owns thread pools that must be shut down with it.
        with create_transfer_manager(self._client, self._transfer_config) as manager:
            yield manager

    @contextlib.contextmanager
    def _errors(self, action: str, key: str | None) -> Iterator[None]:
        try:
            yield
        except VodforgeError:
            raise
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise map_s3_error(exc, action, key) from exc
        except s3transfer.exceptions.RetriesExceededError as exc:
            raise map_s3_error(exc, action, key) from exc
