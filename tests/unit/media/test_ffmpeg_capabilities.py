"""Reading what an ffmpeg build offers from its own listings, as doctor does."""

from __future__ import annotations

import pytest

from vodforge.media.capabilities import listed_names, parse_version


@pytest.mark.parametrize(
    ("line", "version"),
    [
        ("ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024", (5, 1, 6)),
        ("ffmpeg version n9.0.2-17-g2a571b6068-20260930 Copyright", (9, 0, 2)),
        ("ffmpeg version 7.1 Copyright (c) 2000-2024 the FFmpeg developers", (7, 1, 0)),
        ("ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright", (4, 4, 2)),
        ("ffmpeg version N-113000-g1234abcd Copyright", None),  # a git master build
        ("", None),
    ],
)
def test_parse_version(line: str, version: tuple[int, int, int] | None) -> None:
    assert parse_version(line) == version


def test_listed_names_skip_the_legend() -> None:
    encoders = """Encoders:
 V..... = Video
 A..... = Audio
 ------
 V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC
 VFS..D mjpeg                MJPEG (Motion JPEG)
 A....D aac                  AAC (Advanced Audio Coding)
""".splitlines()
    assert listed_names(encoders) == {"libx264", "mjpeg", "aac"}
    muxers = """Formats:
 D.. = Demuxing supported
 .E. = Muxing supported
 ---
  E  hls             Apple HTTP Live Streaming
  E  image2          image2 sequence
 DE  mov,mp4,m4a     QuickTime / MOV
""".splitlines()
    assert listed_names(muxers) == {"hls", "image2", "mov", "mp4", "m4a"}
    # The legend's "V..... = Video" lines are never taken for an encoder named "=".
    assert "=" not in listed_names(encoders)


def test_listed_names_without_a_dashed_line() -> None:
    # ffmpeg 5.1 (Debian 12) prints `-filters` with no dashed line after its legend.
    filters = """Filters:
  T.. = Timeline support
  .S. = Slice threading
  ..C = Command support
  A = Audio input/output
  V = Video input/output
  N = Dynamic number and/or type of input/output
  | = Source or sink filter
 ... abench            A->A       Benchmark part of a filtergraph.
 TSC scale             V->V       Scale the input video size and/or convert the image format.
 ... split             V->N       Pass on the input to N video outputs.
 ... buffer            |->V       Buffer video frames, and make them accessible to the chain.
""".splitlines()
    assert listed_names(filters) == {"abench", "scale", "split", "buffer"}
