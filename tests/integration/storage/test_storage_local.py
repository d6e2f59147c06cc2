"""Local backend: keys never escape the root, writes are atomic, temp files stay invisible."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from vodforge.errors import ErrorCode, PermanentError, RetryableError
from vodforge.storage import open_storage
from vodforge.storage.local import LocalStorage

ESCAPES = ["../outside.txt", "a/../../outside.txt", "/tmp/outside.txt", "a/../outside.txt"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def local(root: Path) -> LocalStorage:
    return LocalStorage(root)


@pytest.mark.parametrize("key", ESCAPES)
def test_traversal_keys_are_rejected_and_write_nothing(
    local: LocalStorage, tmp_path: Path, key: str
) -> None:
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(ValueError):
        local.put_bytes(key, b"pwned")
    with pytest.raises(ValueError):
        local.local_path(key)
    assert sorted(tmp_path.rglob("*")) == before
    assert not (tmp_path / "outside.txt").exists()


def test_a_symlink_inside_the_root_cannot_lead_outside(
    local: LocalStorage, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    os.symlink(outside, root / "link")

    with pytest.raises(ValueError):
        local.read_bytes("link/secret.txt")
    with pytest.raises(ValueError):
        local.put_bytes("link/new.txt", b"pwned")
    with pytest.raises(ValueError):
        local.delete_prefix("link/")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"secret"


def test_objects_are_plain_files_under_the_root(local: LocalStorage, root: Path) -> None:
    local.put_bytes("videos/v1/master.m3u8", b"#EXTM3U\n")
    path = local.local_path("videos/v1/master.m3u8")
    assert path == root / "videos" / "v1" / "master.m3u8"
    assert path.read_bytes() == b"#EXTM3U\n"


def test_a_failed_write_keeps_the_old_object_and_leaves_no_temp_file(
    local: LocalStorage, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local.put_bytes("videos/v1/source.mp4", b"old content")
    source = tmp_path / "new.mp4"
    source.write_bytes(b"new content that will not make it")

    def copy_half_then_fail(src: object, dst: object, length: int = 0) -> None:
        dst.write(b"new cont")  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", copy_half_then_fail)
    with pytest.raises(RetryableError) as caught:
        local.put_file("videos/v1/source.mp4", source)
    monkeypatch.undo()

    assert caught.value.code is ErrorCode.STORAGE_ERROR
    assert local.read_bytes("videos/v1/source.mp4") == b"old content"
    assert sorted(p.name for p in (root / "videos" / "v1").iterdir()) == ["source.mp4"]


def test_temporary_files_are_never_listed(local: LocalStorage, root: Path) -> None:
    local.put_bytes("videos/v1/a.m4s", b"a")
    (root / "videos" / "v1" / ".a.m4s.x1y2.tmp").write_bytes(b"half written")
    assert local.list_keys("videos/") == ["videos/v1/a.m4s"]
    assert local.delete_prefix("videos/v1/") == 1


def test_delete_prefix_prunes_empty_directories_but_keeps_the_root(
    local: LocalStorage, root: Path
) -> None:
    local.put_bytes("videos/v1/attempts/j-1/720p/seg.m4s", b"x")
    local.put_bytes("videos/v2/source.mp4", b"y")
    assert local.delete_prefix("videos/v1/") == 1
    assert not (root / "videos" / "v1").exists()
    assert (root / "videos" / "v2" / "source.mp4").exists()
    local.delete_key("videos/v2/source.mp4")
    assert root.is_dir() and list(root.iterdir()) == []


def test_fsync_mode_writes_the_same_bytes(root: Path) -> None:
    durable = LocalStorage(root, fsync=True)
    durable.put_bytes("videos/v1/source.mp4", b"durable")
    assert durable.read_bytes("videos/v1/source.mp4") == b"durable"


def test_check_fails_when_the_root_is_gone(local: LocalStorage, root: Path) -> None:
    local.check()
    root.rmdir()
    with pytest.raises(PermanentError):
        local.check()


def test_open_storage_file_url(tmp_path: Path) -> None:
    storage = open_storage(f"file://{tmp_path}/my%20store")
    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path / "my store"
    storage.put_bytes("k", b"v")
    assert (tmp_path / "my store" / "k").read_bytes() == b"v"
