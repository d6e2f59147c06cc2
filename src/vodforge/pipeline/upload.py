"""Uploads an attempt's package under its prefix, on remote storage while ffmpeg still writes
it, and leaves no object of the attempt behind when anything fails or stops it.

ffmpeg writes each segment as a .tmp file and renames it once whole (`-hls_flags temp_file`),
so a segment file under its own name is finished: a watcher thread uploads those as they
appear. Everything else (each rendition's last segment, init segments, playlists, the master
playlist validation rewrites, the images) goes up in finish(). Before finish() returns, every
early upload is checked against its file's size and modification time, and sent again if the
file changed after it was read: a whole package stays whole even if an ffmpeg were to write a
segment in place.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from pathlib import Path

from vodforge.storage.base import Storage, check_prefix, content_type_for, join_key

POLL_S = 0.5
_FINISHED_SEGMENT = re.compile(r"^[^.][^/]*\.m4s$")


def overlaps_encoding(storage: Storage) -> bool:
    """Whether uploads should run beside the encode: only where objects are not local files
    (a local upload is a fast copy on the same disk that would compete for the same cores)."""
    return storage.local_path("overlap-probe") is None


class PackageUpload:
    """One attempt's upload: start(), then finish() once the package is complete, or abort()."""

    def __init__(
        self,
        storage: Storage,
        prefix: str,
        out_dir: Path,
        renditions: Sequence[str],
        *,
        overlap: bool,
        poll_s: float = POLL_S,
    ) -> None:
        self.storage = storage
        self.prefix = check_prefix(prefix)
        self.out_dir = Path(out_dir)
        self.renditions = tuple(renditions)
        self.overlap = overlap
        self.poll_s = poll_s
        # Relative path -> (size, mtime_ns) seen before the upload read it, and the upload.
        self._sent: dict[str, tuple[tuple[int, int], Future[None]]] = {}
        self._early: list[str] = []
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, storage.upload_workers), thread_name_prefix="upload"
        )
        self._watcher = threading.Thread(target=self._watch, name="upload-watch", daemon=True)

    @property
    def early_keys(self) -> list[str]:
        """Keys sent while the package was still being written (for tests and logs)."""
        return [join_key(self.prefix, rel) for rel in self._early]

    @property
    def watching(self) -> bool:
        """Whether finished segments are still being looked for and sent."""
        return self._watcher.is_alive()

    def start(self) -> None:
        if self.overlap:
            self._watcher.start()

    def finish(self) -> list[str]:
        """Upload what is not up yet (or changed since); return every key. Raises the first
        upload failure, early ones included."""
        self._stop_watching()
        try:
            if not self.overlap:
                return self.storage.upload_dir(self.prefix, self.out_dir)
            _raise_first(future for _, future in self._sent.values())
            files = sorted(p for p in self.out_dir.rglob("*") if p.is_file())
            plan = [(p.relative_to(self.out_dir).as_posix(), p) for p in files]
            keys = [join_key(self.prefix, rel) for rel, _ in plan]  # all checked before sending
            pending = [self._send(rel, path) for rel, path in plan if self._stale(rel, path)]
            _raise_first(pending)
            return keys
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Stop sending, and return only once no upload is in flight, so that deleting the
        prefix afterwards leaves nothing behind."""
        self._stop_watching()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _stop_watching(self) -> None:
        self._stopping.set()
        if self._watcher.is_alive():
            self._watcher.join()

    def _watch(self) -> None:
        while not self._stopping.wait(self.poll_s):
            if any(f.done() and f.exception() is not None for _, f in self._sent.values()):
                return  # the attempt will fail at finish(): send nothing more
            for rel, path in self._finished_segments():
                self._early.append(rel)
                self._send(rel, path)

    def _finished_segments(self) -> Iterator[tuple[str, Path]]:
        for name in self.renditions:
            directory = self.out_dir / name
            try:
                entries = sorted(os.listdir(directory))
            except FileNotFoundError:
                continue
            for entry in entries:
                rel = f"{name}/{entry}"
                if _FINISHED_SEGMENT.match(entry) and rel not in self._sent:
                    yield rel, directory / entry

    def _send(self, rel: str, path: Path) -> Future[None]:
        key = join_key(self.prefix, rel)
        seen = _signature(path)
        future = self._pool.submit(self.storage.put_file, key, path, content_type_for(key))
        self._sent[rel] = (seen, future)
        return future

    def _stale(self, rel: str, path: Path) -> bool:
        sent = self._sent.get(rel)
        return sent is None or sent[0] != _signature(path)


def _signature(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


def _raise_first(futures: Iterable[Future[None]]) -> None:
    pending = list(futures)
    wait(pending)
    for future in pending:
        future.result()


@contextmanager
def package_upload(
    storage: Storage, prefix: str, out_dir: Path, renditions: Sequence[str]
) -> Iterator[PackageUpload]:
    """Start an attempt's upload (overlapping the encode where storage is remote); if the
    block raises (a failed encode, a stop, a failed upload), stop every upload, wait for
    those in flight, delete whatever reached the prefix, and re-raise."""
    upload = PackageUpload(storage, prefix, out_dir, renditions, overlap=overlaps_encoding(storage))
    upload.start()
    try:
        yield upload
    except BaseException:
        upload.abort()
        # Nothing will publish this attempt: leave no objects of it behind.
        with suppress(Exception):
            storage.delete_prefix(prefix)
        raise
    finally:
        upload.abort()
