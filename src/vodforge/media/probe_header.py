"""Parses ffmpeg's description of an input (the header it prints on stderr) into a ProbeResult.

Text parsing only: media.probe runs ffmpeg, and checks what this returns against the limits.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from vodforge.errors import ErrorCode, InputRejected


@dataclass(frozen=True)
class ProbeResult:
    """What the pipeline needs to know about a source; width/height are display size."""

    format_name: str  # the ffmpeg demuxer used (and forced again when transcoding)
    duration_s: float
    width: int
    height: int
    coded_width: int
    coded_height: int
    rotation: int  # clockwise degrees a player turns the coded picture: 0, 90, 180, 270
    fps: float
    is_vfr: bool
    video_codec: str
    pix_fmt: str
    bit_depth: int
    has_audio: bool
    audio_codec: str | None
    size_bytes: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProbeResult:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def input_header(stderr: str) -> str | None:
    """ffmpeg's description of input #0 (its "Input #0" line and the indented lines after
    it), or None when ffmpeg printed none."""
    lines = stderr.splitlines()
    for start, line in enumerate(lines):
        if line.startswith("Input #0,"):
            end = start + 1
            while end < len(lines) and lines[end].startswith(" "):
                end += 1
            return "\n".join(lines[start:end])
    return None


_STREAM_RE = re.compile(
    r"^\s*Stream #0:(\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?: (Video|Audio|Subtitle|Data|Attachment): "
    r"(.*)$"
)
_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_DIMS_RE = re.compile(r"\b(\d{1,6})x(\d{1,6})\b")
_SAR_RE = re.compile(r"\[SAR (\d+):(\d+)")
_ROTATION_RE = re.compile(r"(?i)display ?matrix: rotation of (-?\d+(?:\.\d+)?) degrees")


def _rate(text: str, unit: str) -> float | None:
    match = re.search(rf"(\d+(?:\.\d+)?)(k?) {unit}\b", text)
    if match is None:
        return None
    return float(match.group(1)) * (1000.0 if match.group(2) else 1.0)


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts


def _bit_depth(pix_fmt: str) -> int:
    match = re.search(r"p(9|10|12|14|16)(?:le|be)$", pix_fmt) or re.match(r"p0(10|12|16)", pix_fmt)
    return int(match.group(1)) if match else 8


def parse_header(stderr: str, *, demuxer: str, size_bytes: int) -> ProbeResult:
    """Turn ffmpeg's input description into a ProbeResult; NO_VIDEO_STREAM if it has none."""
    lines = stderr.splitlines()
    duration = 0.0
    duration_match = _DURATION_RE.search(stderr)
    if duration_match is not None:
        h, m, s = duration_match.groups()
        duration = int(h) * 3600 + int(m) * 60 + float(s)
    video: tuple[str, list[str]] | None = None
    audio_codec: str | None = None
    for index, line in enumerate(lines):
        match = _STREAM_RE.match(line)
        if match is None:
            continue
        kind, body = match.group(2), match.group(3)
        if kind == "Audio" and audio_codec is None:
            audio_codec = body.split()[0].rstrip(",")
        # Cover art is a "video" stream too; it is not a video.
        if kind == "Video" and video is None and "(attached pic)" not in body:
            block = []
            for follow in lines[index + 1 :]:
                if _STREAM_RE.match(follow) or not follow.startswith("    "):
                    break
                block.append(follow)
            video = (body, block)
    if video is None:
        raise InputRejected("file has no video stream", code=ErrorCode.NO_VIDEO_STREAM)
    body, block = video
    parts = _split_top_level(body)
    codec = parts[0].split()[0]
    dims = _DIMS_RE.search(body)
    if dims is None:
        raise InputRejected("video stream has no frame size", code=ErrorCode.INVALID_INPUT)
    coded_w, coded_h = int(dims.group(1)), int(dims.group(2))
    pix_fmt = ""
    if len(parts) > 1 and not _DIMS_RE.search(parts[1]):
        pix_fmt = parts[1].split("(")[0].strip()
    avg_fps, tbr = _rate(body, "fps"), _rate(body, "tbr")
    fps = avg_fps or tbr or 0.0
    # A mean rate that differs from the stream's base rate means frames are unevenly spaced.
    is_vfr = bool(avg_fps and tbr and abs(avg_fps - tbr) > 0.01 * tbr)
    rotation = 0
    for follow in block:
        rot = _ROTATION_RE.search(follow)
        if rot is not None:
            # ffmpeg prints the display matrix angle anticlockwise; store it clockwise.
            rotation = round(-float(rot.group(1)) / 90) * 90 % 360
            break
    display_w, display_h = coded_w, coded_h
    sar = _SAR_RE.search(body)
    if sar is not None and int(sar.group(1)) > 0 and int(sar.group(2)) > 0:
        display_w = round(coded_w * int(sar.group(1)) / int(sar.group(2)))
    if rotation in (90, 270):
        display_w, display_h = display_h, display_w
    return ProbeResult(
        format_name=demuxer,
        duration_s=duration,
        width=display_w,
        height=display_h,
        coded_width=coded_w,
        coded_height=coded_h,
        rotation=rotation,
        fps=fps,
        is_vfr=is_vfr,
        video_codec=codec,
        pix_fmt=pix_fmt,
        bit_depth=_bit_depth(pix_fmt),
        has_audio=audio_codec is not None,
        audio_codec=audio_codec,
        size_bytes=size_bytes,
    )
