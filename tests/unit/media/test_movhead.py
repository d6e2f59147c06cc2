"""Reading the movie duration from an MP4/MOV header (the probe's late-frame hint)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vodforge.media.movhead import MAX_TOP_LEVEL_BOXES, movie_duration_s, mvhd_duration_s


def box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def mvhd_v0(timescale: int, duration: int) -> bytes:
    body = bytes([0, 0, 0, 0]) + bytes(8) + timescale.to_bytes(4, "big")
    return box(b"mvhd", body + duration.to_bytes(4, "big") + bytes(80))


def mvhd_v1(timescale: int, duration: int) -> bytes:
    body = bytes([1, 0, 0, 0]) + bytes(16) + timescale.to_bytes(4, "big")
    return box(b"mvhd", body + duration.to_bytes(8, "big") + bytes(80))


FTYP = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2")


def write(tmp_path: Path, *boxes: bytes) -> Path:
    path = tmp_path / "movie.mp4"
    path.write_bytes(b"".join(boxes))
    return path


def test_moov_after_the_media_data(tmp_path: Path) -> None:
    path = write(tmp_path, FTYP, box(b"mdat", bytes(50_000)), box(b"moov", mvhd_v0(1000, 62_500)))
    assert movie_duration_s(path) == 62.5


def test_moov_first_with_a_64_bit_header_and_version_1_mvhd(tmp_path: Path) -> None:
    payload = box(b"udta", b"x" * 20) + mvhd_v1(90_000, 90_000 * 7200)
    large = (1).to_bytes(4, "big") + b"moov" + (16 + len(payload)).to_bytes(8, "big") + payload
    path = write(tmp_path, FTYP, large, box(b"mdat", bytes(100)))
    assert movie_duration_s(path) == 7200.0


@pytest.mark.parametrize(
    "boxes",
    [
        pytest.param((FTYP, box(b"mdat", bytes(100))), id="no moov"),
        pytest.param((FTYP, box(b"moov", box(b"cmov", bytes(40)))), id="compressed moov"),
        pytest.param((FTYP, box(b"moov", mvhd_v0(1000, 0))), id="zero duration (fragmented)"),
        pytest.param((FTYP, box(b"moov", mvhd_v0(1000, 0xFFFF_FFFF))), id="unknown duration"),
        pytest.param((FTYP, box(b"moov", mvhd_v0(0, 5000))), id="zero timescale"),
        pytest.param((FTYP, box(b"moov", mvhd_v0(1000, 5000)[:20])), id="cut-off mvhd"),
        pytest.param((FTYP, b"\x00\x10\x00\x00moov" + mvhd_v0(1000, 5000)), id="moov overruns"),
        pytest.param((FTYP, b"\x00\x00\x00\x04free", box(b"moov", b"")), id="box too small"),
        pytest.param((FTYP, b"\x00\x00"), id="truncated box header"),
    ],
)
def test_anything_odd_gives_no_hint(tmp_path: Path, boxes: tuple[bytes, ...]) -> None:
    assert movie_duration_s(write(tmp_path, *boxes)) is None


def test_the_box_walk_is_bounded(tmp_path: Path) -> None:
    padding = [box(b"free", b"")] * MAX_TOP_LEVEL_BOXES
    path = write(tmp_path, *padding, box(b"moov", mvhd_v0(1000, 5000)))
    assert movie_duration_s(path) is None
    assert movie_duration_s(write(tmp_path, *padding[1:], box(b"moov", mvhd_v0(1, 5)))) == 5.0


def test_missing_file_gives_no_hint(tmp_path: Path) -> None:
    assert movie_duration_s(tmp_path / "gone.mp4") is None


def test_mvhd_must_lie_within_what_was_read() -> None:
    assert mvhd_duration_s(mvhd_v0(1000, 2500)) == 2.5
    assert mvhd_duration_s(mvhd_v0(1000, 2500)[:-1]) is None
