"""The attempt's upload beside the encode, against a package written the way ffmpeg's hls
muxer writes one (a segment appears under its own name only when whole), on the in-memory
storage: what goes up early, what waits for the end, and what a failure or stop leaves."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from vodforge.pipeline.upload import PackageUpload, overlaps_encoding, package_upload
from vodforge.storage.base import Storage
from vodforge.storage.local import LocalStorage
from vodforge.storage.memory import MemoryStorage
from vodforge.storage.s3 import S3Storage

PREFIX = "videos/v/attempts/j-1/"
RENDITIONS = ("720p", "360p")


def write_segment(out: Path, rendition: str, index: int, data: bytes) -> Path:
    """As ffmpeg with temp_file: write seg.m4s.tmp, then rename it into place."""
    final = out / rendition / f"seg_{index:05d}.m4s"
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(final.name + ".tmp")
    temporary.write_bytes(data)
    temporary.rename(final)
    return final


def write_rest(out: Path) -> None:
    """What a package has besides its segments once ffmpeg exits and validation ran."""
    for i, rendition in enumerate(RENDITIONS):
        (out / rendition).mkdir(parents=True, exist_ok=True)
        (out / rendition / f"init_{i}.mp4").write_bytes(b"init" * 10)
        (out / rendition / "index.m3u8").write_text("#EXTM3U\n")
    (out / "master.m3u8").write_text("#EXTM3U\n")
    (out / "poster.jpg").write_bytes(b"\xff\xd8\xff poster")


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def stored(storage: Storage) -> dict[str, bytes]:
    return {key: storage.read_bytes(key) for key in storage.list_keys(PREFIX)}


def on_disk(out: Path) -> dict[str, bytes]:
    return {
        PREFIX + path.relative_to(out).as_posix(): path.read_bytes()
        for path in out.rglob("*")
        if path.is_file()
    }


def test_finished_segments_go_up_while_the_package_is_written(tmp_path: Path) -> None:
    storage, out = MemoryStorage(), tmp_path / "package"
    upload = PackageUpload(storage, PREFIX, out, RENDITIONS, overlap=True, poll_s=0.01)
    upload.start()
    for rendition in RENDITIONS:
        write_segment(out, rendition, 0, f"{rendition} first".encode())
    # Still being written: neither the .tmp file nor the init segment go up yet.
    (out / "720p" / "seg_00001.m4s.tmp").write_bytes(b"half of it")
    (out / "720p" / "init_0.mp4").write_bytes(b"")
    wait_for(lambda: len(storage.list_keys(PREFIX)) == 2)
    time.sleep(0.05)
    assert sorted(storage.list_keys(PREFIX)) == [
        PREFIX + "360p/seg_00000.m4s",
        PREFIX + "720p/seg_00000.m4s",
    ]

    (out / "720p" / "seg_00001.m4s.tmp").unlink()
    write_segment(out, "720p", 1, b"720p second")
    write_segment(out, "360p", 1, b"360p second")
    write_rest(out)
    keys = upload.finish()

    assert stored(storage) == on_disk(out)
    assert sorted(keys) == sorted(on_disk(out))
    assert set(upload.early_keys) >= {PREFIX + "720p/seg_00000.m4s", PREFIX + "360p/seg_00000.m4s"}
    assert storage.content_type(PREFIX + "720p/seg_00000.m4s") == "video/iso.segment"


def test_a_segment_that_changed_after_it_went_up_is_sent_again(tmp_path: Path) -> None:
    """Should an ffmpeg write a segment in place, the early copy of it is replaced."""
    storage, out = MemoryStorage(), tmp_path / "package"
    upload = PackageUpload(storage, PREFIX, out, RENDITIONS, overlap=True, poll_s=0.01)
    upload.start()
    segment = out / "720p" / "seg_00000.m4s"
    segment.parent.mkdir(parents=True)
    segment.write_bytes(b"the first half")
    wait_for(lambda: storage.exists(PREFIX + "720p/seg_00000.m4s"))
    with segment.open("ab") as handle:
        handle.write(b" and the second half")
    write_rest(out)
    upload.finish()
    assert (
        storage.read_bytes(PREFIX + "720p/seg_00000.m4s") == b"the first half and the second half"
    )
    assert stored(storage) == on_disk(out)


class FailingSegments(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        if key.endswith(".m4s"):
            self.attempts += 1
            raise OSError("the store is down")
        super().put_file(key, path, content_type)


def test_an_early_failure_fails_finish_and_stops_early_sending(tmp_path: Path) -> None:
    storage, out = FailingSegments(), tmp_path / "package"
    upload = PackageUpload(storage, PREFIX, out, RENDITIONS, overlap=True, poll_s=0.01)
    upload.start()
    write_segment(out, "720p", 0, b"a")
    wait_for(lambda: storage.attempts == 1)
    wait_for(lambda: not upload.watching)  # it saw the failure and stopped
    write_segment(out, "720p", 1, b"b")
    assert storage.attempts == 1, "nothing more is sent once an upload failed"
    assert upload.early_keys == [PREFIX + "720p/seg_00000.m4s"]
    write_rest(out)
    with pytest.raises(OSError, match="the store is down"):
        upload.finish()


class SlowPuts(MemoryStorage):
    """Each put waits for `release`, so a test can fail the block while one is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished: list[str] = []

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        self.started.set()
        assert self.release.wait(5)
        super().put_file(key, path, content_type)
        self.finished.append(key)


def test_a_failure_mid_encode_leaves_no_object_even_from_an_upload_in_flight(
    tmp_path: Path,
) -> None:
    storage, out = SlowPuts(), tmp_path / "package"
    releaser = threading.Timer(0.3, storage.release.set)
    with (
        pytest.raises(RuntimeError, match="ffmpeg failed"),
        package_upload(storage, PREFIX, out, RENDITIONS) as upload,
    ):
        upload.poll_s = 0.01
        write_segment(out, "720p", 0, b"a")
        assert storage.started.wait(5)
        releaser.start()  # the put lands only after the block has already failed
        raise RuntimeError("ffmpeg failed")
    releaser.join()
    assert storage.finished == [PREFIX + "720p/seg_00000.m4s"], "the put did complete..."
    assert storage.list_keys(PREFIX) == [], "...before the prefix was emptied"


def test_a_stop_after_finish_removes_the_whole_package(tmp_path: Path) -> None:
    storage, out = MemoryStorage(), tmp_path / "package"
    with pytest.raises(KeyboardInterrupt), package_upload(storage, PREFIX, out, RENDITIONS) as up:
        write_segment(out, "720p", 0, b"a")
        write_rest(out)
        up.finish()
        assert storage.list_keys(PREFIX)
        raise KeyboardInterrupt
    assert storage.list_keys(PREFIX) == []


def test_local_storage_uploads_once_at_the_end(tmp_path: Path) -> None:
    storage, out = LocalStorage(tmp_path / "store"), tmp_path / "package"
    assert not overlaps_encoding(storage)
    with package_upload(storage, PREFIX, out, RENDITIONS) as upload:
        assert not upload.overlap
        write_segment(out, "720p", 0, b"a")
        time.sleep(0.05)
        assert storage.list_keys(PREFIX) == []
        write_rest(out)
        keys = upload.finish()
    assert upload.early_keys == []
    assert sorted(keys) == sorted(on_disk(out)) == storage.list_keys(PREFIX)


def test_remote_storages_overlap() -> None:
    assert overlaps_encoding(MemoryStorage())
    assert overlaps_encoding(S3Storage("bucket", endpoint_url="http://127.0.0.1:9"))
