"""list_objects on every backend: keys in order with size and modification time (the storage
sweep judges an attempt's age by it)."""

from __future__ import annotations

import time

from vodforge.storage.base import Storage


def test_list_objects_gives_size_and_modification_time(storage: Storage) -> None:
    before = time.time() - 2  # S3 keeps whole seconds; local file systems may round too
    for key, body in [("videos/a/2.ts", b"22"), ("videos/a/1.ts", b"1"), ("videos/ab/x", b"xyz")]:
        storage.put_bytes(key, body)
    after = time.time() + 2
    listed = list(storage.list_objects("videos/a/"))
    assert [key for key, _ in listed] == ["videos/a/1.ts", "videos/a/2.ts"]
    assert [info.size for _, info in listed] == [1, 2]
    for _, info in listed:
        assert info.modified is not None and before <= info.modified <= after
    assert [key for key, _ in storage.list_objects("videos/a")] == [
        "videos/a/1.ts",
        "videos/a/2.ts",
        "videos/ab/x",
    ]
    assert list(storage.list_objects("nothing/")) == []
