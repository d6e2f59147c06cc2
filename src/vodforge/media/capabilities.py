"""What an ffmpeg binary can do, against what the pipeline needs (for `vodforge doctor`).

The pipeline decodes once, splits into scaled branches (split, scale, setsar, format, fps),
encodes H.264 with libx264 and AAC audio, writes fMP4 HLS (the hls muxer with
hls_segment_type fmp4) and JPEG posters (mjpeg through image2).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from vodforge.process import run_child

REQUIRED_ENCODERS = ("libx264", "aac", "mjpeg")
REQUIRED_FILTERS = ("split", "scale", "setsar", "format", "fps")
REQUIRED_MUXERS = ("hls", "image2")
# "ffmpeg version 5.1.6-0+deb12u1", "ffmpeg version n9.0.2-17-g2a5...", "ffmpeg version 7.1"
_VERSION = re.compile(r"ffmpeg version n?(\d+)\.(\d+)(?:\.(\d+))?")

Version = tuple[int, int, int]


@dataclass(frozen=True)
class FfmpegInfo:
    path: str
    version_line: str
    version: Version | None  # None for builds from git master ("N-113000-g...")
    missing: tuple[str, ...]  # what the pipeline needs and this build lacks

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version)) if self.version else self.version_line


def parse_version(version_line: str) -> Version | None:
    match = _VERSION.search(version_line)
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def listed_names(lines: list[str]) -> set[str]:
    """Names from `ffmpeg -encoders/-filters/-muxers`: the second column of each row (muxer
    rows may list several names, comma-separated).

    A row is a column of flags (letters, dots, '|') and a name. Headers ("Encoders:"),
    legend lines ("V..... = Video") and the dashed line after the legend are not rows; the
    dashed line itself is not relied on: ffmpeg 5.1's `-filters` (Debian 12) prints none.
    """
    names: set[str] = set()
    for line in lines:
        columns = line.split()
        if len(columns) < 2 or columns[1] == "=" or line.rstrip().endswith(":"):
            continue
        if set(columns[0]) <= _FLAG_CHARACTERS:
            names.update(columns[1].split(","))
    return names


_FLAG_CHARACTERS = frozenset(string.ascii_letters + ".|")


def _output(path: str, *args: str) -> list[str]:
    lines: list[str] = []
    result = run_child(
        [path, "-nostdin", "-hide_banner", *args],
        timeout_s=30,
        on_stdout_line=lines.append,
        grace_s=1.0,
    )
    if result.returncode != 0:
        raise OSError(f"{path} {' '.join(args)} exited {result.returncode}: {result.stderr_tail}")
    return lines


def ffmpeg_info(path: str) -> FfmpegInfo:
    """Ask the binary itself; raises OSError when it cannot be run."""
    version_lines = _output(path, "-version")
    version_line = version_lines[0].strip() if version_lines else ""
    encoders = listed_names(_output(path, "-encoders"))
    filters = listed_names(_output(path, "-filters"))
    muxers = listed_names(_output(path, "-muxers"))
    missing = [f"encoder {name}" for name in REQUIRED_ENCODERS if name not in encoders]
    missing += [f"filter {name}" for name in REQUIRED_FILTERS if name not in filters]
    missing += [f"muxer {name}" for name in REQUIRED_MUXERS if name not in muxers]
    if "hls" in muxers and "fmp4" not in " ".join(_output(path, "-h", "muxer=hls")):
        missing.append("hls fMP4 segments (hls_segment_type fmp4)")
    return FfmpegInfo(path, version_line, parse_version(version_line), tuple(missing))
