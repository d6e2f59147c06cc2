"""Vets an upload before ffmpeg sees it, and gives the hardened options ffmpeg opens it with.

Only a non-empty regular file within the size limit, whose first bytes are a container we
accept, reaches ffmpeg; playlists and concat lists are refused by name (their demuxers open
other files named inside them), text as text. The sniffed demuxer is then forced, under a
demuxer whitelist and the `file` protocol alone (input_args), by the probe and every encode.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from vodforge.domain.limits import InputLimits
from vodforge.errors import ErrorCode, InputRejected, RetryableError

# Every name of every demuxer we accept, as ffmpeg spells them in -format_whitelist.
FORMAT_WHITELIST = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,mpeg,ogg,asf"
SNIFF_BYTES = 4096
_MOV_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"}
_ASF_GUID = bytes.fromhex("3026B2758E66CF11A6D900AA0062CE6C")


def check_source_file(path: Path, limits: InputLimits) -> int:
    """Refuse anything but a non-empty regular file within the size limit; return its size."""
    try:
        st = path.stat()
    except FileNotFoundError:
        # Our own scratch copy vanished: not the uploader's fault, so another attempt may work.
        raise RetryableError(
            f"source file {path.name} is missing", code=ErrorCode.STORAGE_ERROR
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise InputRejected("source is not a regular file", code=ErrorCode.INVALID_INPUT)
    if st.st_size == 0:
        raise InputRejected("file is empty", code=ErrorCode.INVALID_INPUT)
    if st.st_size > limits.max_file_bytes:
        raise InputRejected(
            f"file is {st.st_size} bytes, over the {limits.max_file_bytes} byte limit",
            code=ErrorCode.INPUT_TOO_LARGE,
        )
    return st.st_size


def sniff_container(head: bytes) -> str:
    """Name the ffmpeg demuxer for these leading bytes, or refuse the file."""
    if not head:
        raise InputRejected("file is empty", code=ErrorCode.INVALID_INPUT)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:7].upper() == b"#EXTM3U" or text[:6].upper() == b"#EXTINF":
        raise InputRejected("playlists are not accepted as uploads", code=_UNSUPPORTED)
    if text[:8].lower() == b"ffconcat" or re.match(rb"(?i)(#[^\n]*\n\s*)*file\s+\S", text):
        raise InputRejected("concat lists are not accepted as uploads", code=_UNSUPPORTED)
    demuxer = _magic_demuxer(head)
    if demuxer is not None:
        return demuxer
    if _looks_like_text(head):
        raise InputRejected("file is text, not a video", code=ErrorCode.INVALID_INPUT)
    raise InputRejected("not a recognised video container", code=_UNSUPPORTED)


_UNSUPPORTED = ErrorCode.UNSUPPORTED_FORMAT


def _magic_demuxer(head: bytes) -> str | None:
    if len(head) >= 8 and head[4:8] in _MOV_BOXES:
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(_ASF_GUID):
        return "asf"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg"
    for offset, packet in ((0, 188), (4, 192)):
        if head[offset : offset + 1] == b"\x47" and (
            len(head) < offset + packet + 1 or head[offset + packet] == 0x47
        ):
            return "mpegts"
    return None


def _looks_like_text(head: bytes) -> bool:
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character cut at the sniff boundary is still text.
        try:
            decoded = head[:-4].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in decoded)


def input_args(path: Path, demuxer: str | None) -> list[str]:
    """The hardened input options shared by the probe and the transcode."""
    args = ["-protocol_whitelist", "file", "-format_whitelist", FORMAT_WHITELIST]
    if demuxer is not None:
        args += ["-f", demuxer]
    # "file:" keeps a name like "concat:a|b" or "subfile,,..." from selecting a protocol.
    return [*args, "-i", f"file:{path.absolute()}"]
