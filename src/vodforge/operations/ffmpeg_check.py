"""Doctor's ffmpeg check: which binary runs the pipeline, its version, and whether it can.

A missing capability fails (the pipeline cannot run); a system ffmpeg older than the bundled
one only warns (it runs, but older builds mishandle some inputs the bundled one reads).
"""

from __future__ import annotations

import shutil

from vodforge.errors import ConfigError
from vodforge.media.capabilities import FfmpegInfo, ffmpeg_info
from vodforge.media.ffmpeg import find_ffmpeg
from vodforge.operations.checks import Check

NAME = "ffmpeg"


def bundled_ffmpeg() -> str | None:
    """The binary the imageio-ffmpeg wheel ships, if it is installed and present."""
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        return None


def check_ffmpeg(override: str | None) -> Check:
    try:
        path = find_ffmpeg(override)
    except ConfigError as exc:
        return Check(
            NAME,
            False,
            exc.message,
            "install ffmpeg (Debian/Ubuntu: apt install ffmpeg) or `pip install imageio-ffmpeg`, "
            "or point VODFORGE_FFMPEG at an ffmpeg executable",
        )
    source = "VODFORGE_FFMPEG" if override else "PATH" if shutil.which("ffmpeg") else "bundled"
    bundled = bundled_ffmpeg()
    try:
        info = ffmpeg_info(path)
    except OSError as exc:
        return Check(NAME, False, f"{path} ({source}) does not run: {exc}", _use_other(bundled))
    described = f"{info.path} ({source}), version {info.version_text}"
    if info.missing:
        return Check(
            NAME,
            False,
            f"{described}: lacks {', '.join(info.missing)}, which the pipeline needs",
            "install an ffmpeg built with libx264 and the hls muxer (Debian's `ffmpeg` package "
            "has them), or " + _use_other(bundled),
        )
    present = f"{described}: libx264, aac, split/scale, fMP4 HLS all present"
    warning = _older_than_bundled(info, bundled)
    if warning:
        return Check(
            NAME,
            True,
            f"{present}; warning: {warning}",
            f"set VODFORGE_FFMPEG={bundled} to use the bundled build, or upgrade ffmpeg",
        )
    return Check(NAME, True, present)


def _older_than_bundled(info: FfmpegInfo, bundled: str | None) -> str | None:
    if bundled is None or info.path == bundled or info.version is None:
        return None
    try:
        bundled_info = ffmpeg_info(bundled)
    except OSError:
        return None
    if bundled_info.version is None or info.version >= bundled_info.version:
        return None
    return (
        f"older than the bundled ffmpeg {bundled_info.version_text}; some recent inputs "
        "(e.g. display-matrix rotation side data) are read better by newer builds"
    )


def _use_other(bundled: str | None) -> str:
    if bundled:
        return f"set VODFORGE_FFMPEG={bundled} (the bundled build), or fix the ffmpeg on PATH"
    return (
        "`pip install imageio-ffmpeg` for a bundled build, or set VODFORGE_FFMPEG to a working one"
    )
