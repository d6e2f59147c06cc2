"""The behaviour every Storage backend shares, run against local, memory and S3 alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from vodforge.storage.base import (
    ObjectNotFound,
    Storage,
    attempt_prefix,
    source_key,
    video_prefix,
)
from vodforge.storage.local import LocalStorage
from vodforge.storage.s3 import S3Storage

BAD_KEYS = ["../escape", "/etc/passwd", "a//b", "a/../b", "a/./b", "", "a/", ".hidden", "a\\b"]


def test_bytes_round_trip_and_exists(storage: Storage) -> None:
    assert not storage.exists("videos/v1/source.mp4")
    storage.put_bytes("videos/v1/source.mp4", b"first")
    assert storage.exists("videos/v1/source.mp4")
    assert storage.read_bytes("videos/v1/source.mp4") == b"first"
    storage.put_bytes("videos/v1/source.mp4", b"second, longer")
    assert storage.read_bytes("videos/v1/source.mp4") == b"second, longer"
    # A "directory" is not an object.
    assert not storage.exists("videos/v1")


def test_file_round_trip(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(bytes(range(256)) * 100)
    storage.put_file("videos/v1/source.bin", source)
    target = tmp_path / "deep" / "down" / "out.bin"
    storage.download_file("videos/v1/source.bin", target)
    assert target.read_bytes() == source.read_bytes()
    # Downloads replace what was there.
    storage.put_bytes("videos/v1/source.bin", b"short")
    storage.download_file("videos/v1/source.bin", target)
    assert target.read_bytes() == b"short"


def test_missing_objects(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound):
        storage.read_bytes("videos/nope/source.mp4")
    target = tmp_path / "out.bin"
    with pytest.raises(ObjectNotFound):
        storage.download_file("videos/nope/source.mp4", target)
    assert not target.exists()
    storage.delete_key("videos/nope/source.mp4")  # deleting nothing is fine
    assert storage.delete_prefix("videos/nope/") == 0
    assert storage.list_keys("videos/nope/") == []


def test_list_keys_uses_string_prefixes(storage: Storage) -> None:
    for key in ["videos/a/2.ts", "videos/a/1.ts", "videos/a/sub/x.ts", "videos/ab/x.ts", "z.txt"]:
        storage.put_bytes(key, b"x")
    assert storage.list_keys("videos/a/") == ["videos/a/1.ts", "videos/a/2.ts", "videos/a/sub/x.ts"]
    assert storage.list_keys("videos/a") == [
        "videos/a/1.ts",
        "videos/a/2.ts",
        "videos/a/sub/x.ts",
        "videos/ab/x.ts",
    ]
    assert storage.list_keys("videos/a/1") == ["videos/a/1.ts"]
    assert storage.list_keys("") == sorted(
        ["videos/a/1.ts", "videos/a/2.ts", "videos/a/sub/x.ts", "videos/ab/x.ts", "z.txt"]
    )
    assert storage.list_keys("nothing/") == []


def test_upload_dir_uploads_the_whole_tree(
    storage: Storage, hls_dir: Path, hls_files: dict[str, bytes]
) -> None:
    prefix = attempt_prefix("v1", "j1", 1)
    keys = storage.upload_dir(prefix, hls_dir)
    expected = sorted(prefix + name for name in hls_files)
    assert keys == expected
    assert storage.list_keys(prefix) == expected
    for name, data in hls_files.items():
        assert storage.read_bytes(prefix + name) == data


def test_upload_dir_rejects_unusable_names_before_uploading(
    storage: Storage, tmp_path: Path
) -> None:
    (tmp_path / "out" / ".hidden").mkdir(parents=True)
    (tmp_path / "out" / "a.m3u8").write_bytes(b"x")
    (tmp_path / "out" / ".hidden" / "b.m4s").write_bytes(b"y")
    with pytest.raises(ValueError):
        storage.upload_dir("videos/v1/attempts/j-1/", tmp_path / "out")
    assert storage.list_keys("videos/") == []


def test_delete_key(storage: Storage) -> None:
    storage.put_bytes("videos/v1/a.ts", b"a")
    storage.put_bytes("videos/v1/b.ts", b"b")
    storage.delete_key("videos/v1/a.ts")
    assert storage.list_keys("videos/") == ["videos/v1/b.ts"]


def test_delete_prefix_removes_every_object_of_a_video_and_nothing_else(
    storage: Storage, hls_dir: Path, hls_files: dict[str, bytes]
) -> None:
    tree = hls_dir
    storage.put_bytes(source_key("v1", ".mp4"), b"source")
    storage.upload_dir(attempt_prefix("v1", "j1", 1), tree)
    storage.upload_dir(attempt_prefix("v1", "j1", 2), tree)
    storage.put_bytes(source_key("v10", "mp4"), b"other video, similar id")
    storage.upload_dir(attempt_prefix("v10", "j9", 1), tree)

    deleted = storage.delete_prefix(video_prefix("v1"))

    assert deleted == 1 + 2 * len(hls_files)
    assert storage.list_keys(video_prefix("v1")) == []
    assert storage.read_bytes(source_key("v10", "mp4")) == b"other video, similar id"
    assert len(storage.list_keys(video_prefix("v10"))) == 1 + len(hls_files)


def test_delete_prefix_refuses_an_empty_prefix(storage: Storage) -> None:
    storage.put_bytes("keep.txt", b"x")
    with pytest.raises(ValueError):
        storage.delete_prefix("")
    assert storage.exists("keep.txt")


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_rejected_everywhere(storage: Storage, key: str, tmp_path: Path) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"x")
    with pytest.raises(ValueError):
        storage.put_bytes(key, b"x")
    with pytest.raises(ValueError):
        storage.put_file(key, source)
    with pytest.raises(ValueError):
        storage.read_bytes(key)
    with pytest.raises(ValueError):
        storage.exists(key)
    with pytest.raises(ValueError):
        storage.download_file(key, tmp_path / "out")
    with pytest.raises(ValueError):
        storage.delete_key(key)
    if key:  # "" is a valid prefix for listing
        with pytest.raises(ValueError):
            storage.list_keys(key + "/")
    assert storage.list_keys("") == []


def test_local_path_and_presigned_url_by_backend(storage: Storage) -> None:
    storage.put_bytes("videos/v1/master.m3u8", b"#EXTM3U\n")
    local = storage.local_path("videos/v1/master.m3u8")
    url = storage.presigned_url("videos/v1/master.m3u8", 300)
    if isinstance(storage, LocalStorage):
        assert local is not None and local.read_bytes() == b"#EXTM3U\n"
    else:
        assert local is None
    if isinstance(storage, S3Storage):
        assert url is not None and url.startswith("http")
    else:
        assert url is None


def test_check_passes_on_a_usable_backend(storage: Storage) -> None:
    storage.check()
