"""Runs the transcode (with its poster and thumbnail, or those alone) under supervision and
classifies failures.

Classification (what the job engine does next depends on it):
  stop requested (even if ffmpeg then exited 0)  -> StopRequested
  wall-clock limit reached                         -> TranscodeFailed(TRANSCODE_TIMEOUT), retryable
  killed by a signal, out of memory, other exits   -> TranscodeFailed(TRANSCODE_FAILED), retryable
  stderr says a write found the disk full (any exit) -> TranscodeFailed(DISK_FULL), retryable
  exit != 0 and stderr says the input is bad       -> SourceUndecodable(INVALID_INPUT), permanent
  exit 0                                           -> validate_package (OUTPUT_INVALID, retryable)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vodforge.domain.ladder import Rendition
from vodforge.errors import ErrorCode, InputRejected, RetryableError, StopRequested
from vodforge.media.commands import POSTER_NAME, THUMBNAIL_NAME, poster_argv, transcode_argv
from vodforge.media.hls import PackageReport, validate_package
from vodforge.media.probe_header import ProbeResult
from vodforge.media.progress import Progress, ProgressParser
from vodforge.process import ChildResult, ResourceLimits, StopToken, run_child

GIB = 1024**3
DEFAULT_LIMITS = ResourceLimits(address_space_bytes=8 * GIB)
MIN_TIMEOUT_S = 120.0
TIMEOUT_PER_SOURCE_SECOND = 10.0
POSTER_TIMEOUT_S = 60.0
_BAD_INPUT_MARKERS = (
    "Invalid data found when processing input",
    "moov atom not found",
    "corrupt",
    "Error while decoding",
    "Decoding error",
    "error reading header",
    "Truncating packet",
)
_OUT_OF_MEMORY_MARKERS = ("Cannot allocate memory", "out of memory", "std::bad_alloc")
# strerror(ENOSPC) and strerror(EDQUOT), as ffmpeg prints them after a failed write.
_DISK_FULL_MARKERS = ("No space left on device", "Disk quota exceeded")


@dataclass(frozen=True)
class CommandFailure:
    """The details of a failed ffmpeg run, kept off the one-line message."""

    argv: tuple[str, ...]
    returncode: int
    stderr_tail: str


class TranscodeFailed(RetryableError):
    """ffmpeg failed on our side (signal, memory, timeout); another attempt may succeed."""

    def __init__(
        self, message: str, *, code: ErrorCode | None = None, failure: CommandFailure
    ) -> None:
        super().__init__(message, code=code)
        self.failure = failure


class SourceUndecodable(InputRejected):
    """ffmpeg could not decode the source although the probe accepted it."""

    def __init__(self, message: str, *, failure: CommandFailure) -> None:
        super().__init__(message, code=ErrorCode.INVALID_INPUT)
        self.failure = failure


@dataclass(frozen=True)
class TranscodeResult:
    out_dir: Path
    package: PackageReport
    argv: tuple[str, ...]
    wall_s: float
    cpu_s: float
    max_rss_kb: int
    # Written by the same pass when run_transcode was asked for them.
    poster: Path | None = None
    thumbnail: Path | None = None


def transcode_timeout_s(duration_s: float) -> float:
    """The wall-clock budget for one transcode: generous, but never unbounded."""
    return max(MIN_TIMEOUT_S, TIMEOUT_PER_SOURCE_SECOND * duration_s)


def classify_result(result: ChildResult, stop: StopToken | None, what: str) -> None:
    """Raise the error this finished child stands for; return if it simply succeeded."""
    if result.stopped or (stop is not None and stop.requested):
        reason = result.stop_reason or (stop.reason if stop is not None else None)
        raise StopRequested(f"{what} stopped: {reason or 'stop requested'}")
    failure = CommandFailure(result.argv, result.returncode, result.stderr_tail)
    if result.timed_out:
        raise TranscodeFailed(
            f"{what} timed out after {result.wall_s:.0f} s",
            code=ErrorCode.TRANSCODE_TIMEOUT,
            failure=failure,
        )
    if result.killed_by_signal is not None:
        raise TranscodeFailed(
            f"{what}: ffmpeg killed by signal {result.killed_by_signal}", failure=failure
        )
    stderr = result.stderr_tail
    last = _last_line(stderr)
    if any(marker in stderr for marker in _DISK_FULL_MARKERS):
        # Even after exit 0: the HLS muxer can log a failed segment write and carry on, and
        # its package would only fail validation, as OUTPUT_INVALID, hiding why. Before the
        # bad-input markers, since a failed write can also print "Error while ...".
        raise TranscodeFailed(
            f"{what}: no space left on the scratch disk: {last}",
            code=ErrorCode.DISK_FULL,
            failure=failure,
        )
    if result.returncode == 0:
        return
    if any(marker in stderr for marker in _OUT_OF_MEMORY_MARKERS):
        raise TranscodeFailed(f"{what}: ffmpeg ran out of memory", failure=failure)
    if any(marker in stderr for marker in _BAD_INPUT_MARKERS):
        raise SourceUndecodable(f"source cannot be decoded: {last}", failure=failure)
    raise TranscodeFailed(f"{what}: ffmpeg exited {result.returncode}: {last}", failure=failure)


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:160]


def _require_empty(out_dir: Path) -> None:
    # A leftover master.m3u8 or segment from another attempt must never be validated or
    # published as ours, so each attempt gets a fresh directory.
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise ValueError(f"output directory {out_dir} is not empty")


def run_transcode(
    ffmpeg: str,
    source: Path,
    probe: ProbeResult,
    ladder: Sequence[Rendition],
    out_dir: Path,
    *,
    stop: StopToken,
    on_progress: Callable[[Progress], None],
    limits: ResourceLimits | None = None,
    timeout_s: float | None = None,
    preset: str = "veryfast",
    threads: int = 0,
    with_poster: bool = False,
) -> TranscodeResult:
    """Encode the whole ladder into out_dir (which must be empty) and validate the package;
    with_poster also writes poster.jpg and thumbnail.jpg in the same pass (no second
    decode, unlike make_poster)."""
    _require_empty(out_dir)
    argv = transcode_argv(
        ffmpeg,
        source,
        probe,
        ladder,
        out_dir,
        preset=preset,
        threads=threads,
        with_poster=with_poster,
    )
    parser = ProgressParser(probe.duration_s)

    def on_line(line: str) -> None:
        progress = parser.feed(line)
        if progress is not None:
            on_progress(progress)

    result = run_child(
        argv,
        stop=stop,
        timeout_s=timeout_s if timeout_s is not None else transcode_timeout_s(probe.duration_s),
        limits=limits if limits is not None else DEFAULT_LIMITS,
        on_stdout_line=on_line,
    )
    classify_result(result, stop, "transcode")
    package = validate_package(out_dir, probe.duration_s, ladder)
    images = _require_images(out_dir, "transcode") if with_poster else (None, None)
    # The package is complete on disk, but a stop that arrived meanwhile still wins.
    classify_result(result, stop, "transcode")
    return TranscodeResult(
        out_dir=out_dir,
        package=package,
        argv=result.argv,
        wall_s=result.wall_s,
        cpu_s=result.cpu_s,
        max_rss_kb=result.max_rss_kb,
        poster=images[0],
        thumbnail=images[1],
    )


def make_poster(
    ffmpeg: str,
    source: Path,
    probe: ProbeResult,
    top: Rendition,
    out_dir: Path,
    *,
    stop: StopToken | None = None,
    limits: ResourceLimits | None = None,
    timeout_s: float = POSTER_TIMEOUT_S,
) -> tuple[Path, Path]:
    """Write poster.jpg (top rendition size) and thumbnail.jpg with a separate ffmpeg that
    decodes the source again; return their paths. run_transcode(with_poster=True) writes the
    same images in its own pass: this is for encodes that do not cover the poster's frame."""
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = poster_argv(ffmpeg, source, probe, top, out_dir)
    result = run_child(
        argv,
        stop=stop,
        timeout_s=timeout_s,
        limits=limits if limits is not None else DEFAULT_LIMITS,
    )
    classify_result(result, stop, "poster")
    return _require_images(out_dir, "poster")


def _require_images(out_dir: Path, what: str) -> tuple[Path, Path]:
    poster, thumbnail = out_dir / POSTER_NAME, out_dir / THUMBNAIL_NAME
    for image in (poster, thumbnail):
        if not _is_jpeg(image):
            raise RetryableError(
                f"{what}: {image.name} was not written", code=ErrorCode.OUTPUT_INVALID
            )
    return poster, thumbnail


def _is_jpeg(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(3) == b"\xff\xd8\xff"
    except OSError:
        return False
