"""The Storage interface, the key grammar and the key layout shared by every backend."""

from __future__ import annotations

import mimetypes
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from vodforge.errors import NotFound

MAX_KEY_BYTES = 1024  # the S3 limit; every backend enforces it so keys stay portable
# open_range yields at most this much at a time: a streamed object never sits in memory whole.
CHUNK_BYTES = 64 * 1024

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".ts": "video/mp2t",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".json": "application/json",
    ".vtt": "text/vtt",
}


class ObjectNotFound(NotFound):
    """No stored object has this key."""


@dataclass(frozen=True)
class ObjectInfo:
    """What a reader needs before streaming an object: its size and whatever validators the
    backend has for free (an ETag without quotes, a modification time in epoch seconds)."""

    size: int
    etag: str | None = None
    modified: float | None = None


def check_span(offset: int, length: int) -> None:
    if offset < 0 or length < 0:
        raise ValueError(f"a byte span needs offset >= 0 and length >= 0, got {offset}, {length}")


class SpanReader(Iterator[bytes]):
    """Up to `length` bytes of an opened object, `read` CHUNK_BYTES at a time.

    A class, not a generator: close() must release the file or connection even when no chunk
    was read, and closing a generator that never started runs none of its cleanup.
    """

    def __init__(self, read: Callable[[int], bytes], release: Callable[[], None], length: int):
        self._read = read
        self._release = release
        self._left = length
        self._closed = False

    def __iter__(self) -> SpanReader:
        return self

    def __next__(self) -> bytes:
        if self._left > 0 and not self._closed:
            try:
                chunk = self._read(min(self._left, CHUNK_BYTES))
            except BaseException:
                self.close()
                raise
            if chunk:
                self._left -= len(chunk)
                return chunk
        self.close()
        raise StopIteration

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._release()

    def __del__(self) -> None:
        # A reader dropped half-way (a client that hung up) still gives its file back.
        self.close()


def check_key(key: str) -> str:
    """Return `key` if it is a valid object key, else raise ValueError.

    A key is a relative, '/'-separated path whose segments are non-empty and do not start
    with '.': no '..', no absolute paths, no hidden names (the local backend uses them for
    its temporary files), no backslashes or control characters.
    """
    if not isinstance(key, str) or not key:
        raise ValueError("storage key must be a non-empty string")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(f"storage key is longer than {MAX_KEY_BYTES} bytes")
    if any(ord(ch) < 0x20 or ch in "\\\x7f" for ch in key):
        raise ValueError(f"storage key has a backslash or control character: {key!r}")
    for segment in key.split("/"):
        if not segment:
            raise ValueError(f"storage key has an empty segment or is absolute: {key!r}")
        if segment.startswith("."):
            raise ValueError(f"storage key segment starts with '.': {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """Return `prefix` if it is '' or a key optionally ending in '/', else raise ValueError."""
    if prefix == "":
        return prefix
    check_key(prefix.removesuffix("/"))
    return prefix


def join_key(prefix: str, name: str) -> str:
    """Join a prefix ('' or ending in '/', or a bare key) and a relative name into a key."""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return check_key(prefix + name)


def content_type_for(key: str) -> str:
    """The Content-Type players expect for an object, chosen by its extension."""
    suffix = os.path.splitext(key)[1].lower()
    known = CONTENT_TYPES.get(suffix)
    if known is not None:
        return known
    guessed, _ = mimetypes.guess_type(key, strict=False)
    return guessed or "application/octet-stream"


# Key layout: every object of a video lives under video_prefix(video_id), so deleting a video
# is one delete_prefix; each attempt writes under its own prefix so a zombie attempt can never
# overwrite or mix into a published package (SPEC §3.5).


def video_prefix(video_id: str) -> str:
    return f"videos/{_segment(video_id)}/"


def source_key(video_id: str, filename_ext: str) -> str:
    """The key of an uploaded source; `filename_ext` is the extension, e.g. '.mp4' or 'mp4'."""
    ext = filename_ext.lower().lstrip(".")
    if ext and not ext.isalnum():
        raise ValueError(f"bad source extension: {filename_ext!r}")
    return video_prefix(video_id) + ("source." + ext if ext else "source")


def attempt_prefix(video_id: str, job_id: str, attempt: int) -> str:
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    return f"{video_prefix(video_id)}attempts/{_segment(job_id)}-{attempt}/"


def _segment(value: str) -> str:
    if "/" in value:
        raise ValueError(f"id must not contain '/': {value!r}")
    return check_key(value)


class Storage(ABC):
    """Where sources and published packages live: a flat namespace of '/'-separated keys.

    Prefixes are plain string prefixes, as in S3: 'videos/a' also matches 'videos/ab/x';
    the layout helpers return prefixes ending in '/'.
    """

    # Files uploaded at once by upload_dir; remote backends raise it to hide latency.
    upload_workers: int = 1

    @abstractmethod
    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None: ...

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None: ...

    @abstractmethod
    def download_file(self, key: str, path: Path) -> None:
        """Copy an object to `path` (parents created); ObjectNotFound when missing."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The whole object; ObjectNotFound when missing."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def size(self, key: str) -> int:
        """The object's size in bytes; ObjectNotFound when missing."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """The object's size and validators; ObjectNotFound when missing."""

    @abstractmethod
    def open_range(self, key: str, offset: int, length: int) -> SpanReader:
        """`length` bytes of the object from `offset`, in chunks of at most CHUNK_BYTES.

        The object is opened now (ObjectNotFound is raised here, not on the first chunk, so a
        caller can still answer with an error) and read as the caller iterates; closing the
        iterator releases the file or connection. The span should lie within the size that
        stat reported; reads stop at the object's end.
        """

    def move_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """Store a staged file and remove it; backends that can adopt the file do so."""
        self.put_file(key, path, content_type)
        Path(path).unlink(missing_ok=True)

    def copy_object(self, source: str, target: str) -> None:
        """Store a copy of the object `source` under `target`; ObjectNotFound when missing.
        Backends that can copy without moving the bytes through this process do so."""
        self.put_bytes(target, self.read_bytes(source), content_type_for(target))

    def copy_objects(self, pairs: list[tuple[str, str]]) -> None:
        """copy_object for each (source, target), as many at once as uploads run."""
        check = [(check_key(source), check_key(target)) for source, target in pairs]
        _run_all(
            [_bind_copy(self, source, target) for source, target in check], self.upload_workers
        )

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """Every key starting with `prefix`, sorted."""

    def list_objects(self, prefix: str) -> Iterator[tuple[str, ObjectInfo]]:
        """Every object under `prefix` with its size and modification time, in key order,
        yielded as listed so a sweep over a whole bucket never holds it in memory. Backends
        whose listing carries the metadata (S3, a file system) override this stat per key."""
        for key in self.list_keys(prefix):
            try:
                yield key, self.stat(key)
            except ObjectNotFound:
                continue  # deleted between the listing and the stat

    @abstractmethod
    def delete_key(self, key: str) -> None:
        """Delete one object; deleting a missing key is not an error."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under a non-empty prefix; return how many were deleted."""

    @abstractmethod
    def check(self) -> None:
        """Raise if the backend cannot be used now (for `doctor` and readiness checks)."""

    def local_path(self, key: str) -> Path | None:
        """The file that holds `key` (it may not exist), or None if objects are not files."""
        check_key(key)
        return None

    def presigned_url(self, key: str, expires_s: int) -> str | None:
        """A URL that reads `key` without credentials until it expires, if the backend has one."""
        check_key(key)
        return None

    def presigned_put_url(self, key: str, expires_s: int, content_type: str) -> str | None:
        """A URL a client can PUT the object's bytes to without credentials, if the backend
        has one (direct uploads)."""
        check_key(key)
        return None

    def upload_dir(self, prefix: str, local_dir: Path) -> list[str]:
        """Upload every file under `local_dir` to prefix + its relative path; return the keys.

        Content types come from the extensions. Keys are checked before anything is sent, so
        a file with an unusable name fails the whole upload up front.
        """
        check_prefix(prefix)
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise FileNotFoundError(f"not a directory: {local_dir}")
        files = sorted(p for p in local_dir.rglob("*") if p.is_file())
        plan = [(join_key(prefix, p.relative_to(local_dir).as_posix()), p) for p in files]
        uploads: list[Callable[[], None]] = [
            _bind_put(self, key, path, content_type_for(key)) for key, path in plan
        ]
        _run_all(uploads, self.upload_workers)
        return [key for key, _ in plan]


def _bind_put(storage: Storage, key: str, path: Path, content_type: str) -> Callable[[], None]:
    return lambda: storage.put_file(key, path, content_type)


def _bind_copy(storage: Storage, source: str, target: str) -> Callable[[], None]:
    return lambda: storage.copy_object(source, target)


def _run_all(tasks: list[Callable[[], None]], workers: int) -> None:
    """Run tasks on up to `workers` threads; stop scheduling and re-raise the first failure."""
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            task()
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        futures = [pool.submit(task) for task in tasks]
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                future.result()
