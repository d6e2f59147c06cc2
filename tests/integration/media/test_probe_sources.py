"""Probing real clips made with ffmpeg: sizes, rates, rotation, bit depth, audio, VFR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.clips import make_clip
from vodforge.domain.limits import InputLimits
from vodforge.media.ffmpeg import ffmpeg_has_libx264, find_ffmpeg
from vodforge.media.probe import probe_source

CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "tiny-25fps": (
        {"width": 96, "height": 64, "fps": 25, "duration_s": 1},
        {"width": 96, "height": 64, "fps": 25.0, "has_audio": True, "audio_codec": "aac"},
    ),
    "odd-30fps": (
        {"width": 853, "height": 479, "fps": 30, "duration_s": 1},
        {"width": 853, "height": 479, "fps": 30.0, "pix_fmt": "yuv444p"},
    ),
    "60fps-mkv": (
        {"width": 320, "height": 180, "fps": 60, "duration_s": 1, "container": "mkv"},
        {"format_name": "matroska", "fps": 60.0, "width": 320, "height": 180},
    ),
    "120fps-silent": (
        {"width": 160, "height": 90, "fps": 120, "duration_s": 1, "audio": False},
        {"fps": 120.0, "has_audio": False, "audio_codec": None},
    ),
    "rotated-90": (
        {"width": 320, "height": 180, "fps": 30, "duration_s": 1, "rotate": 90},
        {"width": 180, "height": 320, "coded_width": 320, "coded_height": 180, "rotation": 90},
    ),
    "rotated-270-ts": (
        {"width": 320, "height": 180, "fps": 30, "duration_s": 1, "rotate": 270},
        {"width": 180, "height": 320, "rotation": 270, "is_vfr": False},
    ),
    "ten-bit": (
        {"width": 128, "height": 72, "fps": 30, "duration_s": 1, "pix_fmt": "yuv420p10le"},
        {"bit_depth": 10, "pix_fmt": "yuv420p10le", "video_codec": "h264"},
    ),
    "vfr": (
        {"width": 160, "height": 120, "fps": 30, "duration_s": 3, "vfr": True, "audio": False},
        {"is_vfr": True},
    ),
    "mpegts": (
        {"width": 160, "height": 90, "fps": 25, "duration_s": 1, "container": "ts"},
        {"format_name": "mpegts", "width": 160, "height": 90, "has_audio": True},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_probe_reports_the_clip(case: str, tmp_path: Path) -> None:
    spec, expected = CASES[case]
    suffix = spec.get("container", "mp4")
    clip = make_clip(tmp_path / f"clip.{suffix}", **spec)
    info = probe_source(clip, InputLimits(), find_ffmpeg())
    actual = {key: getattr(info, key) for key in expected}
    assert actual == expected
    assert info.duration_s == pytest.approx(spec["duration_s"], abs=0.1)
    assert info.size_bytes == clip.stat().st_size
    assert info.format_name == {"mkv": "matroska", "ts": "mpegts"}.get(suffix, "mov")


def test_limits_are_configurable(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", width=320, height=180, fps=60, duration_s=2)
    from vodforge.errors import ErrorCode, InputRejected

    for limits, words in [
        (InputLimits(max_fps=50.0), "frame rate"),
        (InputLimits(max_duration_s=1.0), "duration"),
        (InputLimits(max_width=256, max_height=256), "frame"),
        (InputLimits(max_file_bytes=1000), "byte limit"),
    ]:
        with pytest.raises(InputRejected, match=words) as caught:
            probe_source(clip, limits, find_ffmpeg())
        assert caught.value.code is ErrorCode.INPUT_TOO_LARGE


def test_bundled_ffmpeg_has_libx264() -> None:
    assert ffmpeg_has_libx264(find_ffmpeg())
    assert not ffmpeg_has_libx264("/bin/true")


COUNTING_FFMPEG = """#!/bin/sh
printf '%s\\n' "$*" >> "{log}"
exec "{real}" "$@"
"""


def counting_ffmpeg(directory: Path) -> tuple[str, Path]:
    """An ffmpeg that records each command line it is run with, one per line."""
    log = directory / "calls.log"
    script = directory / "ffmpeg-counting"
    script.write_text(COUNTING_FFMPEG.format(log=log, real=find_ffmpeg()))
    script.chmod(0o755)
    log.write_text("")
    return str(script), log


def seeks(call: str) -> list[float]:
    words = call.split()
    return [float(words[i + 1]) for i, word in enumerate(words) if word == "-ss"]


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_one_ffmpeg_call_in_the_common_case(tmp_path: Path, container: str) -> None:
    clip = make_clip(tmp_path / f"c.{container}", width=320, height=180, fps=30, duration_s=4)
    ffmpeg, log = counting_ffmpeg(tmp_path)
    info = probe_source(clip, InputLimits(), ffmpeg)
    (call,) = log.read_text().splitlines()
    # MP4/MOV: the late frame is decoded in the same call, three quarters in.
    assert seeks(call) == (
        [pytest.approx(0.75 * info.duration_s, abs=0.01)] if container == "mp4" else []
    )
    assert "-max_pixels" in call.split()


def test_the_late_frame_is_three_quarters_into_ffmpegs_duration_whatever_the_hint(
    tmp_path: Path,
) -> None:
    clip = make_clip(tmp_path / "c.mp4", width=320, height=180, fps=30, duration_s=4)
    data = bytearray(clip.read_bytes())
    at = data.index(b"mvhd") + 4  # version/flags, 2 times, timescale, then the duration
    assert data[at] == 0
    duration = int.from_bytes(data[at + 16 : at + 20], "big")
    data[at + 16 : at + 20] = (duration // 2).to_bytes(4, "big")  # the hint says 2 s
    clip.write_bytes(bytes(data))
    ffmpeg, log = counting_ffmpeg(tmp_path)

    info = probe_source(clip, InputLimits(), ffmpeg)

    calls = log.read_text().splitlines()
    assert seeks(calls[0]) == [pytest.approx(1.5, abs=0.01)]  # placed by the hint
    # ffmpeg 6+ reads the duration from the tracks (4 s): the hint was wrong, so the late
    # frame is decoded again, alone, where it belongs. ffmpeg 5.1 believes the mvhd (2 s):
    # the one call already decoded it there.
    late = [seek for call in calls for seek in seeks(call)]
    assert late[-1] == pytest.approx(0.75 * info.duration_s, abs=0.01)
    assert len(calls) == (1 if info.duration_s == pytest.approx(2.0, abs=0.05) else 2)
