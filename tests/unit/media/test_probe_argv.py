"""The one probe call's command line, the header it reads back, and the decode pixel cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from vodforge.domain.limits import InputLimits
from vodforge.errors import ErrorCode, InputRejected
from vodforge.media.probe import check_limits, decode_pixel_cap, probe_argv
from vodforge.media.probe_header import ProbeResult, input_header, parse_header
from vodforge.media.sniff import FORMAT_WHITELIST

SOURCE = Path("/scratch/job/source.bin")
HARDENED_INPUT = [
    "-protocol_whitelist", "file", "-format_whitelist", FORMAT_WHITELIST,
    "-f", "mov", "-i", "file:/scratch/job/source.bin",
]  # fmt: skip
DECODER = ["-threads", "1", "-max_pixels", "1000"]


def test_start_and_late_frame_in_one_call() -> None:
    argv = probe_argv("ffmpeg", SOURCE, demuxer="mov", max_pixels=1000, late_s=45.0)
    assert argv == [
        "ffmpeg", "-nostdin", "-hide_banner", "-nostats",
        *DECODER, *HARDENED_INPUT,
        *DECODER, "-ss", "45.000", *HARDENED_INPUT,
        "-map", "0:V:0", "-frames:v", "1", "-c:v", "rawvideo", "-f", "framecrc", "pipe:1",
        "-map", "1:V:0", "-frames:v", "1", "-c:v", "rawvideo", "-f", "framemd5", "pipe:1",
    ]  # fmt: skip


def test_without_a_late_frame_only_one_input() -> None:
    argv = probe_argv("ffmpeg", SOURCE, demuxer="matroska", max_pixels=1000, late_s=None)
    assert argv == [
        "ffmpeg", "-nostdin", "-hide_banner", "-nostats", *DECODER,
        "-protocol_whitelist", "file", "-format_whitelist", FORMAT_WHITELIST,
        "-f", "matroska", "-i", "file:/scratch/job/source.bin",
        "-map", "0:V:0", "-frames:v", "1", "-c:v", "rawvideo", "-f", "framecrc", "pipe:1",
    ]  # fmt: skip


COMBINED_STDERR = """[mov,mp4 @ 0x1] a warning before the header
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/x/a.mp4':
  Duration: 00:00:10.00, start: 0.000000, bitrate: 900 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), \
1280x720 [SAR 1:1 DAR 16:9], 800 kb/s, 30 fps, 30 tbr, 15360 tbn (default)
Input #1, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/x/a.mp4':
  Duration: 00:00:10.00, start: 0.000000, bitrate: 900 kb/s
  Stream #1:0[0x1](und): Video: h264 (High), yuv420p(progressive), 1280x720, 30 fps
  Stream #1:1[0x2](und): Audio: aac (LC), 48000 Hz, stereo, fltp (default)
Stream mapping:
  Stream #0:0 -> #0:0 (h264 (native) -> rawvideo (native))
Output #0, framecrc, to 'pipe:1':
  Stream #0:0: Video: rawvideo, yuv420p, 1280x720, q=2-31, 30 fps
  Stream #0:1: Audio: pcm_s16le, 48000 Hz, stereo
"""


def test_input_header_is_input_zero_alone() -> None:
    header = input_header(COMBINED_STDERR)
    assert header is not None
    assert header.splitlines()[0].startswith("Input #0,")
    assert "Input #1" not in header and "Output #0" not in header
    # The second input's and the output's audio streams are not the source's.
    info = parse_header(header, demuxer="mov", size_bytes=1)
    assert (info.width, info.height, info.has_audio) == (1280, 720, False)
    assert input_header("Error opening input file\n") is None


def test_pixel_cap_leaves_room_for_stride_padding() -> None:
    limits = InputLimits()
    cap = decode_pixel_cap(limits)
    # The largest allowed frames, padded to a 64-pixel stride (portrait 8K pads 4320 -> 4352).
    assert cap >= 4352 * 7680
    assert cap >= (7680 + 63) * 4320
    assert cap < 16000 * 16000 // 4
    assert cap < 2 * limits.max_pixels


def sample(**changes: object) -> ProbeResult:
    base = ProbeResult(
        format_name="mov", duration_s=10.0, width=1920, height=1080, coded_width=1920,
        coded_height=1080, rotation=0, fps=30.0, is_vfr=False, video_codec="h264",
        pix_fmt="yuv420p", bit_depth=8, has_audio=False, audio_codec=None, size_bytes=1,
    )  # fmt: skip
    return ProbeResult.from_json(base.to_json() | changes)


def test_coded_size_is_limited_too() -> None:
    # A narrow pixel aspect shows 4000x4000 but stores (and decodes) 16000x4000.
    squeezed = sample(width=4000, height=4000, coded_width=16000, coded_height=4000)
    with pytest.raises(InputRejected, match="coded frame 16000x4000") as caught:
        check_limits(squeezed, InputLimits())
    assert caught.value.code is ErrorCode.INPUT_TOO_LARGE
    check_limits(
        sample(width=4320, height=7680, coded_width=7680, coded_height=4320), InputLimits()
    )
