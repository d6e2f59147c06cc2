"""Finds the ffmpeg binary (system PATH first, else the imageio-ffmpeg wheel) and checks it."""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

from vodforge.errors import ConfigError
from vodforge.process import run_child


def find_ffmpeg(override: str | None = None) -> str:
    """Return the ffmpeg executable to use: an explicit override, PATH, or the bundled one."""
    if override:
        return _checked_override(override)
    return _default_ffmpeg()


def _checked_override(override: str) -> str:
    path = Path(override)
    if not path.is_file() or not os.access(path, os.X_OK):
        found = shutil.which(override)
        if found is None:
            raise ConfigError(f"ffmpeg override {override!r} is not an executable file")
        return found
    return str(path)


@functools.cache
def _default_ffmpeg() -> str:
    found = shutil.which("ffmpeg")
    if found is not None:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - it is a hard dependency
        raise ConfigError("no ffmpeg on PATH and imageio-ffmpeg is not installed") from None
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as exc:
        raise ConfigError(f"no usable ffmpeg: {exc}") from None


@functools.cache
def ffmpeg_has_libx264(path: str) -> bool:
    """True when this ffmpeg lists the libx264 encoder (what `doctor` checks)."""
    encoders: list[str] = []

    def collect(line: str) -> None:
        # " V....D libx264              libx264 H.264 / AVC ..." -> the second column
        columns = line.split()
        if len(columns) > 1:
            encoders.append(columns[1])

    try:
        result = run_child(
            [path, "-nostdin", "-hide_banner", "-encoders"],
            timeout_s=30,
            on_stdout_line=collect,
            grace_s=1.0,
        )
    except OSError:
        return False
    return result.returncode == 0 and "libx264" in encoders
