"""tus `Upload-Metadata`: comma-separated `key base64value` pairs (tus 1.0, creation)."""

from __future__ import annotations

import base64

import pytest

from vodforge.errors import InvalidRequest
from vodforge.uploads.tus import MAX_METADATA_CHARS, metadata_text, parse_metadata


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def test_pairs_decode_and_a_value_may_be_absent() -> None:
    header = f"filename {b64(b'lecture 1.mp4')},title {b64('Über'.encode())}, empty,is_x"
    parsed = parse_metadata(header)
    assert parsed == {
        "filename": b"lecture 1.mp4",
        "title": "Über".encode(),
        "empty": b"",
        "is_x": b"",
    }
    assert metadata_text(parsed, "title") == "Über"
    assert metadata_text(parsed, "empty") is None
    assert metadata_text(parsed, "missing") is None


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_metadata_is_empty(header: str | None) -> None:
    assert parse_metadata(header) == {}


@pytest.mark.parametrize(
    "header",
    [
        "filename !!!",
        f"title {b64(b'a')},title {b64(b'b')}",
        f"tïtle {b64(b'a')}",
        "title YQ",
        f" ,filename {b64(b'a')}",
        "k" * (MAX_METADATA_CHARS + 1),
    ],
    ids=["not base64", "repeated key", "non-ascii key", "bad padding", "empty key", "too long"],
)
def test_a_malformed_header_is_invalid(header: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_metadata(header)


def test_a_text_value_must_be_utf8() -> None:
    with pytest.raises(InvalidRequest):
        metadata_text(parse_metadata("title " + b64(b"\xff")), "title")
