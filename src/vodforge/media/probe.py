"""Probes an uploaded source with ffmpeg, hardened against hostile files, and enforces limits.

The order matters: cheap checks on the file itself (size, type, magic bytes: media.sniff) run
before ffmpeg ever sees it; ffmpeg is then run with only the `file` protocol, a fixed demuxer
forced from the sniffed magic and a demuxer whitelist, so the HLS, concat, playlist and
image2 demuxers (which open *other* files named inside the input) can never be used.
One ffmpeg call usually settles the rest: it prints the header, decodes the first video
frame and, for MP4/MOV, a frame late in the file (a second input of the same file, seeking to
three quarters of the duration the file's own mvhd box states), each reported as a line of
frame checksums on stdout. Every decoder runs with -max_pixels, so a 16000x16000 frame is
refused from the header without ever being decoded, and the header's limits are checked
before anything decoded is looked at. Separate calls remain for what that call cannot settle:
a header it did not print (the header-only run then gives the reason), a source with no
duration in its header, a decode that failed (run again alone, for its own message) and a
late frame it could not place. Where the late frame is, and why, is unchanged: truncation
shows there, and only MP4/MOV seek by an index (see LATE_FRACTION).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vodforge.domain.limits import InputLimits
from vodforge.errors import ErrorCode, InputRejected, RetryableError
from vodforge.media.movhead import movie_duration_s
from vodforge.media.probe_header import ProbeResult, input_header, parse_header
from vodforge.media.progress import ProgressParser
from vodforge.media.sniff import SNIFF_BYTES, check_source_file, input_args, sniff_container
from vodforge.process import ChildResult, ResourceLimits, run_child

PROBE_ADDRESS_SPACE = 4 * 1024**3
_HEADER_OK = "At least one output file must be specified"
# Where the late frame is decoded: not at the very end, where a video track may legitimately
# stop a little before the audio. The mvhd hint may differ from ffmpeg's duration by this much.
LATE_FRACTION = 0.75
LATE_TOLERANCE_S = 0.1
# Decoders may pad a frame's width to their stride before checking -max_pixels; this much
# headroom per row of the longest allowed side keeps every frame check_limits allows decodable.
_ALIGN_HEADROOM = 128
# Most telling first: the message names the first of these found in ffmpeg's stderr.
_BAD_DATA_MARKERS = (
    "moov atom not found",
    "not on whitelist",
    "EBML header parsing failed",
    "could not find codec parameters",
    "corrupt",
    "Invalid data found",
    "Error opening input",
)


def probe_source(path: Path, limits: InputLimits, ffmpeg: str) -> ProbeResult:
    """Probe and validate a source, raising InputRejected with a code if it is refused."""
    size = check_source_file(path, limits)
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    demuxer = sniff_container(head)
    late_s = _late_seek_hint(path, demuxer, limits)
    probe = run_probe(ffmpeg, path, demuxer=demuxer, limits=limits, late_s=late_s)
    stderr = probe.result.stderr_tail
    if input_header(stderr) is None:
        if probe.result.timed_out:
            raise InputRejected("probe timed out", code=ErrorCode.INVALID_INPUT)
        # Not opened, or the header scrolled out of the stderr tail: the header-only run
        # refuses the file with ffmpeg's own reason, or hands the header over.
        stderr = run_header_probe(
            ffmpeg,
            path,
            demuxer=demuxer,
            timeout_s=limits.probe_timeout_s,
            max_pixels=decode_pixel_cap(limits),
        ).stderr_tail
    _refuse_capped_frame(stderr, limits)
    info = parse_header(input_header(stderr) or stderr, demuxer=demuxer, size_bytes=size)
    if info.duration_s <= 0:
        info = _with_duration(info, _measure_duration(ffmpeg, path, demuxer, limits))
    check_limits(info, limits)
    _raise_if_cut_short(probe.result)
    _check_frames_decode(ffmpeg, path, demuxer, limits, info, probe, late_s)
    return info


def _check_frames_decode(
    ffmpeg: str,
    path: Path,
    demuxer: str,
    limits: InputLimits,
    info: ProbeResult,
    probe: ProbeRun,
    late_s: float | None,
) -> None:
    """Accept what the one call proved; prove the rest (or fail with its reason) alone."""
    succeeded = probe.result.returncode == 0
    if not (succeeded and probe.first_frames >= 1):
        _prove_frame_decodes(ffmpeg, path, demuxer, limits, seek_s=None)
    if demuxer != "mov" or info.duration_s < 1.0:
        return
    # A frame late in the file proves it is whole: a cut-off MP4 whose index comes first
    # still starts fine. Only MP4/MOV seek by an index to the keyframe before the point;
    # elsewhere seeking is by bytes and can land where nothing decodes in a sound file.
    wanted = round(info.duration_s * LATE_FRACTION, 3)
    placed = late_s is not None and abs(late_s - wanted) <= max(LATE_TOLERANCE_S, 0.01 * wanted)
    if not (placed and succeeded and probe.late_frames >= 1):
        _prove_frame_decodes(ffmpeg, path, demuxer, limits, seek_s=wanted)


@dataclass(frozen=True)
class ProbeRun:
    """The one probe call: ffmpeg's result and how many frames each input decoded."""

    result: ChildResult
    first_frames: int
    late_frames: int


def decode_pixel_cap(limits: InputLimits) -> int:
    """The -max_pixels every probe decoder gets: a little over the largest frame allowed."""
    return limits.max_pixels + _ALIGN_HEADROOM * max(limits.max_width, limits.max_height)


def probe_argv(
    ffmpeg: str, path: Path, *, demuxer: str, max_pixels: int, late_s: float | None
) -> list[str]:
    """One ffmpeg call that prints the header, decodes the first video frame and, when
    late_s is given, the first frame at late_s of a second input of the same file. Each
    decoded frame is a line on stdout: framecrc (an 0x adler32) for the first frame, framemd5
    for the late one.

    Two output files, not two streams of one: ffmpeg 5.1 ends every stream of an output file
    once one of them reaches its -frames.
    """
    decoder = ["-threads", "1", "-max_pixels", str(max_pixels)]
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-nostats", *decoder, *input_args(path, demuxer)]
    outputs = _frame_output("0:V:0", "framecrc")
    if late_s is not None:
        argv += [*decoder, "-ss", f"{late_s:.3f}", *input_args(path, demuxer)]
        outputs += _frame_output("1:V:0", "framemd5")
    return [*argv, *outputs]


def _frame_output(stream: str, muxer: str) -> list[str]:
    return ["-map", stream, "-frames:v", "1", "-c:v", "rawvideo", "-f", muxer, "pipe:1"]


def run_probe(
    ffmpeg: str, path: Path, *, demuxer: str, limits: InputLimits, late_s: float | None
) -> ProbeRun:
    """Run probe_argv under the probe's time and memory limits; never raises."""
    frames = {"first": 0, "late": 0}

    def on_line(line: str) -> None:
        match = _FRAME_LINE_RE.match(line)
        if match is not None:
            frames["first" if match.group(1).startswith("0x") else "late"] += 1

    argv = probe_argv(
        ffmpeg, path, demuxer=demuxer, max_pixels=decode_pixel_cap(limits), late_s=late_s
    )
    result = run_child(
        argv,
        timeout_s=limits.probe_timeout_s,
        limits=ResourceLimits(address_space_bytes=PROBE_ADDRESS_SPACE),
        on_stdout_line=on_line,
        stderr_tail_lines=4000,
        grace_s=2.0,
    )
    return ProbeRun(result, frames["first"], frames["late"])


# "stream, dts, pts, duration, size, checksum": 0x + 8 hex digits (framecrc) or 32 (framemd5).
_FRAME_LINE_RE = re.compile(r"^\s*\d+,.*,\s*(0x[0-9a-fA-F]{8}|[0-9a-fA-F]{32})\s*$")


def _late_seek_hint(path: Path, demuxer: str, limits: InputLimits) -> float | None:
    # Only where the late check applies, and never past the duration limit: a file claiming
    # to be longer is refused from its header before any late frame would be looked at.
    if demuxer != "mov":
        return None
    duration = movie_duration_s(path)
    if duration is None or not 1.0 <= duration <= limits.max_duration_s:
        return None
    return round(duration * LATE_FRACTION, 3)


def _refuse_capped_frame(stderr: str, limits: InputLimits) -> None:
    # A decoder that met a frame over -max_pixels refused it unread, and ffmpeg then knows
    # no size for the stream: its message is the one place the size is still named.
    match = _PIXEL_CAP_RE.search(stderr)
    if match is not None:
        raise InputRejected(
            f"frame {match.group(1)}x{match.group(2)} is over the "
            f"{limits.max_width}x{limits.max_height} limit",
            code=ErrorCode.INPUT_TOO_LARGE,
        )


_PIXEL_CAP_RE = re.compile(r"Picture size (\d+)x(\d+) exceeds specified max pixel count")


def _raise_if_cut_short(result: ChildResult) -> None:
    if result.timed_out:
        raise InputRejected("probe timed out", code=ErrorCode.INVALID_INPUT)
    if result.killed_by_signal is not None:
        raise RetryableError(
            f"ffmpeg probe killed by signal {result.killed_by_signal}",
            code=ErrorCode.TRANSCODE_FAILED,
        )


def run_header_probe(
    ffmpeg: str,
    path: Path,
    *,
    demuxer: str | None,
    timeout_s: float,
    max_pixels: int | None = None,
) -> ChildResult:
    """Let ffmpeg read only the container header; raise InputRejected if it cannot.

    demuxer=None leaves detection to ffmpeg (still under the whitelist): only tests use it,
    to show the whitelist alone refuses playlists even if sniffing were bypassed. max_pixels
    caps what ffmpeg may decode while it looks for codec parameters.
    """
    cap = [] if max_pixels is None else ["-max_pixels", str(max_pixels)]
    argv = [ffmpeg, "-nostdin", "-hide_banner", *cap, *input_args(path, demuxer)]
    result = _run(argv, timeout_s)
    if _HEADER_OK not in result.stderr_tail:
        raise InputRejected(
            f"ffmpeg cannot read the file: {_last_error(result.stderr_tail)}",
            code=ErrorCode.INVALID_INPUT,
        )
    return result


def _run(argv: list[str], timeout_s: float, on_line: Any = None) -> ChildResult:
    result = run_child(
        argv,
        timeout_s=timeout_s,
        limits=ResourceLimits(address_space_bytes=PROBE_ADDRESS_SPACE),
        on_stdout_line=on_line,
        stderr_tail_lines=4000,
        grace_s=2.0,
    )
    _raise_if_cut_short(result)
    return result


def _last_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for marker in _BAD_DATA_MARKERS:
        for line in reversed(lines):
            if marker.lower() in line.lower():
                return _strip_context(line)
    return _strip_context(lines[-1]) if lines else "no output"


def _strip_context(line: str) -> str:
    # "[in#0 @ 0x55...] [dec:h264 @ 0x...] message" -> "message"
    return re.sub(r"^(\[[^\]]*\]\s*)+", "", line)[:160]


def check_limits(info: ProbeResult, limits: InputLimits) -> None:
    """Raise INPUT_TOO_LARGE when a probed source exceeds a configured limit."""
    long_side, short_side = max(info.width, info.height), min(info.width, info.height)
    long_max, short_max = (
        max(limits.max_width, limits.max_height),
        min(limits.max_width, limits.max_height),
    )
    # Portrait sources are allowed the same frame turned on its side.
    if (
        long_side > long_max
        or short_side > short_max
        or info.width * info.height > limits.max_pixels
    ):
        raise InputRejected(
            f"frame {info.width}x{info.height} is over the "
            f"{limits.max_width}x{limits.max_height} limit",
            code=ErrorCode.INPUT_TOO_LARGE,
        )
    if info.coded_width * info.coded_height > limits.max_pixels:
        # Decoding costs what is stored, not what is shown (a narrow pixel aspect ratio).
        raise InputRejected(
            f"coded frame {info.coded_width}x{info.coded_height} is over the "
            f"{limits.max_pixels} pixel limit",
            code=ErrorCode.INPUT_TOO_LARGE,
        )
    if info.fps > limits.max_fps + 0.01:
        raise InputRejected(
            f"frame rate {info.fps:g} fps is over the {limits.max_fps:g} fps limit",
            code=ErrorCode.INPUT_TOO_LARGE,
        )
    if info.duration_s > limits.max_duration_s:
        raise InputRejected(
            f"duration {info.duration_s:.0f} s is over the {limits.max_duration_s:.0f} s limit",
            code=ErrorCode.INPUT_TOO_LARGE,
        )
    if info.duration_s <= 0:
        raise InputRejected("duration is unknown or zero", code=ErrorCode.INVALID_INPUT)
    if info.width < 2 or info.height < 2:
        raise InputRejected("frame is too small", code=ErrorCode.INVALID_INPUT)


def _with_duration(info: ProbeResult, duration_s: float) -> ProbeResult:
    data = info.to_json()
    data["duration_s"] = duration_s
    return ProbeResult.from_json(data)


def _measure_duration(ffmpeg: str, path: Path, demuxer: str, limits: InputLimits) -> float:
    """Read every packet without decoding (fast) for sources whose header has no duration."""
    parser = ProgressParser(duration_s=0.0)
    last = [0.0]

    def on_line(line: str) -> None:
        progress = parser.feed(line)
        if progress is not None:
            last[0] = progress.out_time_s

    argv = [ffmpeg, "-nostdin", "-hide_banner", *input_args(path, demuxer)]
    argv += ["-map", "0:V:0", "-c", "copy", "-f", "null", "-progress", "pipe:1", "-nostats", "-"]
    _run(argv, limits.probe_timeout_s, on_line)
    return last[0]


def _prove_frame_decodes(
    ffmpeg: str, path: Path, demuxer: str, limits: InputLimits, *, seek_s: float | None
) -> None:
    frames = [0]

    def on_line(line: str) -> None:
        if line.startswith("frame="):
            frames[0] = max(frames[0], int(line.partition("=")[2] or 0))

    seek = [] if seek_s is None else ["-ss", f"{seek_s:.3f}"]
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-threads", "1"]
    argv += ["-max_pixels", str(decode_pixel_cap(limits)), *seek]
    argv += input_args(path, demuxer)
    argv += ["-map", "0:V:0", "-frames:v", "1", "-f", "null", "-progress", "pipe:1", "-nostats"]
    result = _run([*argv, "-"], limits.probe_timeout_s, on_line)
    if result.returncode != 0 or frames[0] < 1:
        where = "at the start" if seek_s is None else "late in the file (truncated?)"
        raise InputRejected(
            f"no video frame decodes {where}: {_last_error(result.stderr_tail)}",
            code=ErrorCode.INVALID_INPUT,
        )
