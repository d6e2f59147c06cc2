"""Storage in a dict: the real fake that unit tests use instead of mocks."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path

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


class MemoryStorage(Storage):
    """Objects, their content types and write times in memory; thread-safe, lost with the
    process. `clock` stamps writes, so a test can age objects without sleeping."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._objects: dict[str, tuple[bytes, str]] = {}
        self._modified: dict[str, float] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStorage({len(self._objects)} objects)"

    def check(self) -> None:
        return None

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        self.put_bytes(key, Path(path).read_bytes(), content_type)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        check_key(key)
        with self._lock:
            self._objects[key] = (bytes(data), content_type or content_type_for(key))
            self._modified[key] = self._clock()

    def download_file(self, key: str, path: Path) -> None:
        data = self.read_bytes(key)
        destination = Path(path)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)

    def read_bytes(self, key: str) -> bytes:
        return self._get(key)[0]

    def content_type(self, key: str) -> str:
        """The Content-Type the object was stored with (for tests)."""
        return self._get(key)[1]

    def size(self, key: str) -> int:
        return len(self._get(key)[0])

    def stat(self, key: str) -> ObjectInfo:
        data = self._get(key)[0]
        with self._lock:
            modified = self._modified.get(key)
        return ObjectInfo(len(data), hashlib.md5(data, usedforsecurity=False).hexdigest(), modified)

    def open_range(self, key: str, offset: int, length: int) -> SpanReader:
        check_span(offset, length)
        # Objects are immutable bytes: a reader over the one stored copy, not a copy of it.
        view = io.BytesIO(self._get(key)[0])
        view.seek(offset)
        return SpanReader(view.read, view.close, length)

    def exists(self, key: str) -> bool:
        check_key(key)
        with self._lock:
            return key in self._objects

    def list_keys(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        with self._lock:
            return sorted(key for key in self._objects if key.startswith(prefix))

    def delete_key(self, key: str) -> None:
        check_key(key)
        with self._lock:
            self._objects.pop(key, None)
            self._modified.pop(key, None)

    def delete_prefix(self, prefix: str) -> int:
        if not check_prefix(prefix):
            raise ValueError("refusing to delete with an empty prefix")
        with self._lock:
            doomed = [key for key in self._objects if key.startswith(prefix)]
            for key in doomed:
                del self._objects[key]
                del self._modified[key]
        return len(doomed)

    def _get(self, key: str) -> tuple[bytes, str]:
        check_key(key)
        with self._lock:
            found = self._objects.get(key)
        if found is None:
            raise ObjectNotFound(f"no stored object {key!r}")
        return found
