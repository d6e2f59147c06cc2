"""Object storage for sources and published packages: local directory, S3 or memory."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from vodforge.errors import ConfigError
from vodforge.storage.base import (
    ObjectNotFound,
    Storage,
    attempt_prefix,
    check_key,
    content_type_for,
    source_key,
    video_prefix,
)

__all__ = [
    "ObjectNotFound",
    "Storage",
    "attempt_prefix",
    "check_key",
    "content_type_for",
    "open_storage",
    "source_key",
    "video_prefix",
]


def open_storage(url: str, *, s3_endpoint_url: str | None = None) -> Storage:
    """The storage a URL names: `file:///abs/dir`, `s3://bucket/prefix` or `memory://`.

    The S3 backend is imported only when asked for, so the embedded mode never loads boto3.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(f"file storage URL must not name a host: {url!r}")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise ConfigError(f"file storage URL needs an absolute path (file:///dir): {url!r}")
        from vodforge.storage.local import LocalStorage

        return LocalStorage(Path(path))
    if scheme == "s3":
        if not parts.netloc:
            raise ConfigError(f"S3 storage URL needs a bucket (s3://bucket/prefix): {url!r}")
        from vodforge.storage.s3 import S3Storage

        try:
            return S3Storage(
                parts.netloc, unquote(parts.path).strip("/"), endpoint_url=s3_endpoint_url
            )
        except ValueError as exc:
            raise ConfigError(f"bad S3 storage URL {url!r}: {exc}") from exc
    if scheme == "memory":
        from vodforge.storage.memory import MemoryStorage

        return MemoryStorage()
    raise ConfigError(f"unsupported storage URL {url!r}: use file:///dir, s3://bucket or memory://")
