"""Magic-byte sniffing and parsing of ffmpeg's input description, without running ffmpeg."""

from __future__ import annotations

import pytest

from vodforge.domain.limits import InputLimits
from vodforge.errors import ErrorCode, InputRejected
from vodforge.media.probe import check_limits
from vodforge.media.probe_header import ProbeResult, parse_header
from vodforge.media.sniff import sniff_container


@pytest.mark.parametrize(
    ("head", "demuxer"),
    [
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "mov"),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x08mdat", "mov"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "matroska"),
        (b"RIFF\x00\x10\x00\x00AVI LIST", "avi"),
        (b"FLV\x01\x05", "flv"),
        (b"OggS\x00\x02", "ogg"),
        (bytes.fromhex("3026B2758E66CF11A6D900AA0062CE6C") + b"\x00", "asf"),
        (b"\x00\x00\x01\xba\x44", "mpeg"),
        (b"\x47" + bytes(187) + b"\x47" + bytes(10), "mpegts"),
    ],
)
def test_known_containers(head: bytes, demuxer: str) -> None:
    assert sniff_container(head) == demuxer


@pytest.mark.parametrize(
    ("head", "code", "words"),
    [
        (b"", ErrorCode.INVALID_INPUT, "empty"),
        (b"#EXTM3U\n#EXTINF:4,\n/etc/passwd\n", ErrorCode.UNSUPPORTED_FORMAT, "playlist"),
        (b"\xef\xbb\xbf  #EXTM3U\n", ErrorCode.UNSUPPORTED_FORMAT, "playlist"),
        (b"ffconcat version 1.0\nfile 'a.mp4'\n", ErrorCode.UNSUPPORTED_FORMAT, "concat"),
        (b"# my list\nfile '/abs/path.mp4'\n", ErrorCode.UNSUPPORTED_FORMAT, "concat"),
        (b"hello, this is just text\n", ErrorCode.INVALID_INPUT, "text"),
        (b"<html>\xc3\xa9t\xc3\xa9</html>", ErrorCode.INVALID_INPUT, "text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", ErrorCode.UNSUPPORTED_FORMAT, "container"),
        (bytes(range(256)), ErrorCode.UNSUPPORTED_FORMAT, "container"),
        (b"\x47" + bytes(187) + b"\x00" + bytes(10), ErrorCode.UNSUPPORTED_FORMAT, "container"),
    ],
)
def test_refused_heads(head: bytes, code: ErrorCode, words: str) -> None:
    with pytest.raises(InputRejected, match=words) as caught:
        sniff_container(head)
    assert caught.value.code is code


HEADER = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/x/rot.mp4':
  Metadata:
    major_brand     : isom
  Duration: 00:01:02.50, start: 0.000000, bitrate: 1980 kb/s
  Stream #0:0[0x1](und): Video: h264 (High 10) (avc1 / 0x31637661), yuv420p10le(tv, bt709, \
progressive), 1920x1080 [SAR 1:1 DAR 16:9], 1897 kb/s, 29.97 fps, 29.97 tbr, 15360 tbn (default)
    Metadata:
      handler_name    : VideoHandler
    Side data:
      Display Matrix: rotation of -90.00 degrees
  Stream #0:1[0x2](eng): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp (default)
  Stream #0:2: Video: mjpeg (Baseline), yuvj420p(pc), 600x600, 90k tbr (attached pic)
At least one output file must be specified
"""


def test_parse_header_rotated_ten_bit() -> None:
    info = parse_header(HEADER, demuxer="mov", size_bytes=123)
    assert info == ProbeResult(
        format_name="mov", duration_s=62.5, width=1080, height=1920, coded_width=1920,
        coded_height=1080, rotation=90, fps=29.97, is_vfr=False, video_codec="h264",
        pix_fmt="yuv420p10le", bit_depth=10, has_audio=True, audio_codec="aac",
        size_bytes=123,
    )  # fmt: skip
    assert ProbeResult.from_json(info.to_json()) == info


def test_parse_header_vfr_anamorphic_and_older_rotation_wording() -> None:
    text = (
        HEADER.replace("29.97 fps, 29.97 tbr", "17.05 fps, 30 tbr")
        .replace("[SAR 1:1 DAR 16:9]", "[SAR 4:3 DAR 64:27]")
        .replace("Display Matrix: rotation of -90.00", "displaymatrix: rotation of 180.00")
    )
    info = parse_header(text, demuxer="mov", size_bytes=1)
    assert info.is_vfr and info.fps == 17.05
    assert info.rotation == 180 and (info.width, info.height) == (2560, 1080)


def test_cover_art_alone_is_no_video() -> None:
    audio_only = "\n".join(line for line in HEADER.splitlines() if "Stream #0:0" not in line)
    with pytest.raises(InputRejected) as caught:
        parse_header(audio_only, demuxer="mov", size_bytes=1)
    assert caught.value.code is ErrorCode.NO_VIDEO_STREAM


def info_of(**changes: object) -> ProbeResult:
    base = parse_header(HEADER, demuxer="mov", size_bytes=1).to_json()
    return ProbeResult.from_json(base | changes)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"width": 16000, "height": 16000}, ErrorCode.INPUT_TOO_LARGE),
        ({"width": 7682, "height": 4320}, ErrorCode.INPUT_TOO_LARGE),
        ({"fps": 240.0}, ErrorCode.INPUT_TOO_LARGE),
        ({"duration_s": 6 * 3600 + 1.0}, ErrorCode.INPUT_TOO_LARGE),
        ({"duration_s": 0.0}, ErrorCode.INVALID_INPUT),
    ],
)
def test_limits(changes: dict[str, object], code: ErrorCode) -> None:
    with pytest.raises(InputRejected) as caught:
        check_limits(info_of(**changes), InputLimits())
    assert caught.value.code is code


def test_portrait_8k_and_120_fps_are_within_limits() -> None:
    check_limits(info_of(width=4320, height=7680, fps=120.0), InputLimits())
