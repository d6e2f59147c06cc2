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
