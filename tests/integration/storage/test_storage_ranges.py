"""The ranged reads playback streams with, on every backend: stat, then open_range in chunks."""

from __future__ import annotations

import gc
import os

import pytest

from vodforge.storage.base import CHUNK_BYTES, ObjectNotFound, Storage

KEY = "videos/v/attempts/j-1/720p/seg_00001.m4s"


@pytest.fixture
def blob() -> bytes:
    # Not a multiple of the chunk size, so the last chunk is a short one.
    return os.urandom(3 * CHUNK_BYTES + 123)


def test_stat_reports_size_and_a_validator_that_changes_with_the_content(
    storage: Storage, blob: bytes
) -> None:
    storage.put_bytes(KEY, blob)
    first = storage.stat(KEY)
    assert first.size == len(blob)
    assert first.etag
    storage.put_bytes(KEY, blob[:-1])
    second = storage.stat(KEY)
    assert second.size == len(blob) - 1
    assert second.etag and second.etag != first.etag


@pytest.mark.parametrize(
    ("offset", "length"),
    [(0, None), (0, 1), (1, CHUNK_BYTES), (CHUNK_BYTES - 1, CHUNK_BYTES + 2), (None, 123)],
)
def test_open_range_yields_exactly_the_span_in_bounded_chunks(
    storage: Storage, blob: bytes, offset: int | None, length: int | None
) -> None:
    storage.put_bytes(KEY, blob)
    start = len(blob) - 123 if offset is None else offset
    count = len(blob) - start if length is None else length

    chunks = list(storage.open_range(KEY, start, count))

    assert b"".join(chunks) == blob[start : start + count]
    assert all(0 < len(chunk) <= CHUNK_BYTES for chunk in chunks)


def test_an_empty_span_yields_nothing(storage: Storage, blob: bytes) -> None:
    storage.put_bytes(KEY, blob)
    assert list(storage.open_range(KEY, 0, 0)) == []


def test_a_missing_object_fails_when_opened_not_when_first_read(storage: Storage) -> None:
    with pytest.raises(ObjectNotFound):
        storage.stat(KEY)
    with pytest.raises(ObjectNotFound):
        storage.open_range(KEY, 0, 10)


def test_a_reader_closed_or_dropped_before_the_end_releases_its_object(
    storage: Storage, blob: bytes
) -> None:
    """A client that hangs up mid-segment: the file or connection goes back at once (with
    warnings as errors, a leaked file handle would fail this test)."""
    storage.put_bytes(KEY, blob)
    reader = storage.open_range(KEY, 0, len(blob))
    assert next(reader)
    reader.close()
    assert list(reader) == []

    dropped = storage.open_range(KEY, 0, len(blob))
    next(dropped)
    del dropped
    gc.collect()


def test_bad_spans_are_refused(storage: Storage, blob: bytes) -> None:
    storage.put_bytes(KEY, blob)
    with pytest.raises(ValueError):
        storage.open_range(KEY, -1, 10)
    with pytest.raises(ValueError):
        storage.open_range(KEY, 0, -1)
