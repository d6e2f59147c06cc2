"""Reads an MP4/MOV file's movie duration (the mvhd box) without ffmpeg, for a hint only.

The probe needs a duration before ffmpeg runs, to place its late-frame check inside the same
ffmpeg call; anything odd (no moov among the first boxes, a compressed or fragmented movie,
sizes that do not add up) answers None and the probe asks ffmpeg separately. Reads are
bounded: a few box headers and the first MOOV_HEAD_BYTES of the moov box.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_TOP_LEVEL_BOXES = 64
MOOV_HEAD_BYTES = 4096
_UNKNOWN_32 = 0xFFFF_FFFF
_UNKNOWN_64 = 0xFFFF_FFFF_FFFF_FFFF


def movie_duration_s(path: Path) -> float | None:
    """The mvhd duration in seconds, or None when the file does not simply say."""
    try:
        with open(path, "rb") as handle:
            end = os.fstat(handle.fileno()).st_size
            at = 0
            for _ in range(MAX_TOP_LEVEL_BOXES):
                if at + 8 > end:
                    return None
                handle.seek(at)
                header = handle.read(16)
                size, kind, header_len = _box_header(header, end - at)
                if size is None:
                    return None
                if kind == b"moov":
                    handle.seek(at + header_len)
                    return mvhd_duration_s(handle.read(min(size - header_len, MOOV_HEAD_BYTES)))
                at += size
    except OSError:
        return None
    return None


def mvhd_duration_s(moov_payload: bytes) -> float | None:
    """The duration in the mvhd box among the first children of a moov box's payload."""
    at = 0
    while at + 8 <= len(moov_payload):
        size, kind, header_len = _box_header(moov_payload[at : at + 16], len(moov_payload) - at)
        if size is None:
            return None
        if kind == b"mvhd":
            return _parse_mvhd(moov_payload[at + header_len : at + size])
        at += size
    return None


def _box_header(data: bytes, room: int) -> tuple[int | None, bytes, int]:
    """(box size, type, header length); size None when the box cannot be where it says."""
    if len(data) < 8:
        return None, b"", 0
    size, kind, header_len = int.from_bytes(data[:4], "big"), data[4:8], 8
    if size == 1:
        if len(data) < 16:
            return None, kind, 0
        size, header_len = int.from_bytes(data[8:16], "big"), 16
    elif size == 0:  # the box runs to the end of the file
        size = room
    if size < header_len or size > room:
        return None, kind, header_len
    return size, kind, header_len


def _parse_mvhd(body: bytes) -> float | None:
    if not body:
        return None
    if body[0] == 1:  # version 1: 64-bit times and duration
        if len(body) < 32:
            return None
        timescale = int.from_bytes(body[20:24], "big")
        duration = int.from_bytes(body[24:32], "big")
        unknown = _UNKNOWN_64
    else:
        if len(body) < 20:
            return None
        timescale = int.from_bytes(body[12:16], "big")
        duration = int.from_bytes(body[16:20], "big")
        unknown = _UNKNOWN_32
    if timescale == 0 or duration in (0, unknown):
        return None
    return duration / timescale
