"""Storage in a local directory: atomic writes, and keys can never escape the root."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from vodforge.errors import ErrorCode, PermanentError, RetryableError
from vodforge.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    SpanReader,
    Storage,
    check_key,
    check_prefix,
    check_span,
)


class LocalStorage(Storage):
    """Objects are files under `root`; the key is the relative path.

    Writes go to a hidden temporary file in the destination directory and are renamed into
    place, so a reader sees the old object or the new one, never a torn one. Pass fsync=True
    to also survive a power cut (slower).
    """

    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self.root = Path(root).resolve()
        self.fsync = fsync
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def check(self) -> None:
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise PermanentError(
                f"storage root is not a writable directory: {self.root}",
                code=ErrorCode.STORAGE_ERROR,
            )

    def local_path(self, key: str) -> Path:
        check_key(key)
        path = self.root.joinpath(*key.split("/"))
        # A symlink planted inside the root must not lead outside it either.
        if not path.resolve().is_relative_to(self.root):
            raise ValueError(f"storage key resolves outside the storage root: {key!r}")
        return path

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        target = self.local_path(key)
        # A missing source file is the caller's bug, not a storage failure: let it propagate.
        with (
            open(path, "rb") as source,
            _storage_errors("write", key),
            self._atomic_writer(target) as out,
        ):
            shutil.copyfileobj(source, out, 1024 * 1024)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        target = self.local_path(key)
        with _storage_errors("write", key), self._atomic_writer(target) as out:
            out.write(data)

    def download_file(self, key: str, path: Path) -> None:
        source = self._existing(key)
        destination = Path(path)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with _storage_errors("read", key):
            src = open(source, "rb")  # noqa: SIM115 - closed by the with below
        with src, self._atomic_writer(destination) as out:
            shutil.copyfileobj(src, out, 1024 * 1024)

    def read_bytes(self, key: str) -> bytes:
        source = self._existing(key)
        with _storage_errors("read", key):
            return source.read_bytes()

    def exists(self, key: str) -> bool:
        return self.local_path(key).is_file()

    def size(self, key: str) -> int:
        return self._existing(key).stat().st_size

    def stat(self, key: str) -> ObjectInfo:
        path = self._existing(key)
        with _storage_errors("read", key):
            info = path.stat()
        return _object_info(info)

    def open_range(self, key: str, offset: int, length: int) -> SpanReader:
        check_span(offset, length)
        path = self._existing(key)
        with _storage_errors("read", key):
            handle = open(path, "rb")  # noqa: SIM115 - the reader closes it
        # The reader owns the handle from here: dropped after a failed seek, it closes it.
        reader = SpanReader(lambda size: _read(handle, key, size), handle.close, length)
        with _storage_errors("read", key):
            handle.seek(offset)
        return reader

    def move_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """A staged upload on the same file system is renamed into place, not copied."""
        target = self.local_path(key)
        path = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)
        except OSError:  # another file system: copy, then drop the staged file
            super().move_file(key, path, content_type)

    def copy_object(self, source: str, target: str) -> None:
        """A hard link: published files never change in place (every write replaces the
        file), so sharing the inode is a copy that costs nothing."""
        source_path = self._existing(source)
        target_path = self.local_path(target)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = target_path.with_name(
            f".{target_path.name}.{os.getpid()}.{threading.get_ident()}.link"
        )
        try:
            os.link(source_path, temporary)
            os.replace(temporary, target_path)
        except OSError:
            temporary.unlink(missing_ok=True)
            with (
                _storage_errors("copy", source),
                open(source_path, "rb") as handle,
                self._atomic_writer(target_path) as out,
            ):
                shutil.copyfileobj(handle, out, 1024 * 1024)

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(key for key, _ in self._walk(check_prefix(prefix)))

    def list_objects(self, prefix: str) -> Iterator[tuple[str, ObjectInfo]]:
        for key, path in sorted(self._walk(check_prefix(prefix))):
            try:
                info = path.stat()
            except FileNotFoundError:
                continue  # deleted while we walked
            yield key, _object_info(info)

    def delete_key(self, key: str) -> None:
        path = self.local_path(key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._prune_empty_dirs(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        if not check_prefix(prefix):
            raise ValueError("refusing to delete with an empty prefix")
        deleted = 0
        parents: set[Path] = set()
        for _, path in list(self._walk(prefix)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                deleted += 1
            parents.add(path.parent)
        # Deepest first so that emptied parents are pruned after their children.
        for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            self._prune_empty_dirs(parent)
        return deleted

    def _existing(self, key: str) -> Path:
        path = self.local_path(key)
        if not path.is_file():
            raise ObjectNotFound(f"no stored object {key!r}")
        return path

    def _walk(self, prefix: str) -> Iterator[tuple[str, Path]]:
        """(key, path) for every object whose key starts with `prefix`."""
        directory, _, _ = prefix.rpartition("/")
        start = self.local_path(directory) if directory else self.root
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            # Hidden names are temporary files of writes in progress, never objects.
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue
                path = Path(dirpath, name)
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key, path

    @contextlib.contextmanager
    def _atomic_writer(self, target: Path) -> Iterator[BinaryIO]:
        fd, tmp_name = self._make_temp(target)
        try:
            with os.fdopen(fd, "wb") as out:
                yield out
                if self.fsync:
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        if self.fsync:
            _fsync_dir(target.parent)

    def _make_temp(self, target: Path) -> tuple[int, str]:
        # A concurrent delete may prune the directory between mkdir and mkstemp: make it again.
        for _ in range(3):
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            except FileNotFoundError:
                continue
        target.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)

    def _prune_empty_dirs(self, directory: Path) -> None:
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except FileNotFoundError:
                pass
            except OSError:  # not empty: an object still lives here
                return
            directory = directory.parent


def _object_info(info: os.stat_result) -> ObjectInfo:
    # Size and mtime, as nginx and Apache build theirs: cheap and changes with the file.
    return ObjectInfo(
        info.st_size, f"{info.st_size:x}-{info.st_mtime_ns:x}", info.st_mtime_ns / 1e9
    )


def _read(handle: BinaryIO, key: str, size: int) -> bytes:
    with _storage_errors("read", key):
        return handle.read(size)


@contextlib.contextmanager
def _storage_errors(action: str, key: str) -> Iterator[None]:
    """Turn OS errors into the errors the worker understands (code STORAGE_ERROR)."""
    try:
        yield
    except FileNotFoundError as exc:
        if action == "read":
            raise ObjectNotFound(f"no stored object {key!r}") from exc
        raise RetryableError(
            f"cannot {action} {key!r}: {exc}", code=ErrorCode.STORAGE_ERROR
        ) from exc
    except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        message = f"cannot {action} {key!r}: {exc}"
        raise PermanentError(message, code=ErrorCode.STORAGE_ERROR) from exc
    except OSError as exc:  # disk full, I/O error: another attempt may succeed
        raise RetryableError(
            f"cannot {action} {key!r}: {exc}", code=ErrorCode.STORAGE_ERROR
        ) from exc


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
