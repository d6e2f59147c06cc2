"""Byte ranges and playback tokens as pure functions: plain asserts and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vodforge.errors import Forbidden
from vodforge.playback.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    etag_matches,
    parse_range,
    range_allowed,
)
from vodforge.playback.signing import PlaybackSigner

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", ByteRange(0, 0)),
        ("bytes=0-999", ByteRange(0, 999)),
        ("bytes=10-", ByteRange(10, 999)),
        ("bytes=990-5000", ByteRange(990, 999)),
        ("bytes=-1", ByteRange(999, 999)),
        ("bytes=-5000", ByteRange(0, 999)),
        ("BYTES = 5 - 9", ByteRange(5, 9)),
        (None, None),
        ("bytes=9-5", None),
        ("bytes=-", None),
        ("bytes=0-1,4-5", None),
        ("pages=1-2", None),
        ("bytes=1.5-2", None),
        ("bytes=٣-٤", None),  # Arabic-Indic digits are not HTTP digits
        ("bytes=" + "9" * 5000 + "-", None),  # too long to be a real offset: ignored
    ],
)
def test_parse_range(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=1000-", 1000), ("bytes=2000-3000", 1000), ("bytes=-0", 1000),
                         ("bytes=0-", 0), ("bytes=-5", 0)],
)  # fmt: skip
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


@given(
    size=st.integers(1, 10**12),
    first=st.integers(0, 10**13),
    last=st.one_of(st.none(), st.integers(0, 10**13)),
)
def test_a_served_range_always_lies_inside_the_object(
    size: int, first: int, last: int | None
) -> None:
    header = f"bytes={first}-{'' if last is None else last}"
    try:
        span = parse_range(header, size)
    except RangeNotSatisfiable:
        assert first >= size
        return
    if span is None:
        assert last is not None and last < first
        return
    assert 0 <= span.start <= span.end < size
    assert span.length == span.end - span.start + 1
    assert span.content_range(size) == f"bytes {span.start}-{span.end}/{size}"


def test_conditional_headers() -> None:
    assert etag_matches('"a", W/"b"', '"b"')
    assert etag_matches("*", '"a"')
    assert not etag_matches('"a"', '"b"')
    assert not etag_matches('"a"', None)
    assert range_allowed(None, '"a"', None)
    assert range_allowed('"a"', '"a"', None)
    assert not range_allowed('W/"a"', '"a"', None)  # If-Range needs a strong match
    assert not range_allowed('"b"', '"a"', None)
    date = "Tue, 01 Jul 2025 10:00:00 GMT"
    assert range_allowed(date, None, date)
    assert not range_allowed(date, None, None)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_token_grants_one_package_of_one_video_until_it_expires() -> None:
    clock = Clock(1_700_000_000)
    signer = PlaybackSigner(b"secret", base_url="https://api.example/", ttl_s=60, clock=clock)
    token = signer.token("video-a", "videos/a/attempts/j-1/")
    url = signer.url("video-a", "videos/a/attempts/j-1/", "master.m3u8")
    assert url == f"https://api.example/v1/play/video-a/{token}/master.m3u8"

    signer.verify("video-a", "videos/a/attempts/j-1/", token)
    assert signer.live_until(token) == 1_700_000_060
    for video, prefix in [
        ("video-b", "videos/a/attempts/j-1/"),
        ("video-a", "videos/a/attempts/j-2/"),
    ]:
        with pytest.raises(Forbidden):
            signer.verify(video, prefix, token)
    clock.now += 61
    with pytest.raises(Forbidden, match="expired"):
        signer.verify("video-a", "videos/a/attempts/j-1/", token)
    with pytest.raises(Forbidden, match="expired"):
        signer.live_until(token)


@given(st.text(max_size=80))
def test_any_token_text_is_refused_cleanly(token: str) -> None:
    """Hostile path segments never raise anything but Forbidden."""
    signer = PlaybackSigner(b"secret", base_url="", ttl_s=60)
    with pytest.raises(Forbidden):
        signer.verify("video-a", "videos/a/attempts/j-1/", token)
