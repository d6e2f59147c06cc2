"""Encodes one chunk of a long source (every rendition, video only) or its audio, for a
stitch step (media.stitch) to join into one package without re-encoding.

The stitched package must be the unchunked one, frame for frame. How (each step seen with
ffmpeg 5.1 and 9.0, tests/integration/media/test_chunked_media.py):

* One timeline. `-copyts -start_at_zero` keeps every frame at its time in the whole video,
  on the timeline run_transcode encodes on. ffmpeg starts that timeline at the first
  timestamp of the streams it reads, so a chunk also reads one audio packet (to a null
  output) and the audio job one video packet, as run_transcode reads both.
* An exact partition. `-ss` before `-i` (MP4/MOV only, a second early) just skips decoding;
  the cut is `trim` in the filter graph, after any fps filter. Both chunks at a boundary
  use the same cut, so `pts < cut` in one and `pts >= cut` in the next: no frame is lost or
  encoded twice. The cut is half a frame slot before the first output slot at or after the
  boundary (cut_s), so a frame lands in the chunk of the slot it is shown in. The first
  chunk has no start and, like run_transcode, a constant frame rate from 0 (-fps_mode cfr:
  a video starting after its audio repeats its first frame); the last chunk has no end.
* The same keyframes and segments. `-force_key_frames expr:gte(t,n_forced*2)` and the hls
  muxer's 4 s cuts both count from an output's first frame, so every chunk starts with a
  keyframe and keeps the 2 s / 4 s cadence in every rendition, within one frame of the
  unchunked one (exactly, when the frame rate puts a frame on each 2 s).
* Continuing decode times. `-avoid_negative_ts disabled` and the mp4 muxer's
  `frag_discont` make a chunk's first tfdt its first frame's time (run_transcode's decode
  times: dts plus the B-frame delay), so each chunk's first fragment starts exactly where
  the one before ends, and every chunk writes the same init segment (one edit list: that
  delay).

The audio is one job over the whole source (AAC cut at chunk boundaries would repeat its
priming); its edit list skips the priming as the video's skips the B-frame delay.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

from vodforge.domain.chunks import ChunkSpan
from vodforge.domain.ladder import Rendition
from vodforge.media.commands import (
    AUDIO_ENCODER_ARGS,
    INIT_NAME,
    MEDIA_PLAYLIST,
    POSTER_NAME,
    SEGMENT_PATTERN,
    THUMBNAIL_NAME,
    picture_filters,
    rate_filter,
    video_encoder_args,
)
from vodforge.media.parts import (
    AUDIO_NAME,
    EPSILON_S,
    PartOutput,
    check_audio,
    check_chunk,
    fold_short_tail,
    read_track,
)
from vodforge.media.probe_header import ProbeResult
from vodforge.media.progress import Progress, ProgressParser
from vodforge.media.sniff import input_args
from vodforge.media.transcode import (
    DEFAULT_LIMITS,
    classify_result,
    make_poster,
    transcode_timeout_s,
)
from vodforge.process import ChildResult, ResourceLimits, StopToken, run_child

SEEK_MARGIN_S = 1.0  # decode from this long before a chunk, so rate conversion is warm
# Demuxers whose seek lands on the keyframe at or before the point, by the file's index.
# Elsewhere (MPEG-TS: seen landing on the keyframe *after* it, losing the frames between)
# a chunk decodes from the start of the file: slower, never wrong.
INDEXED_FORMATS = frozenset({"mov"})


# -- command lines ------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _check_out_dir(out_dir: Path) -> None:
    # The hls muxer expands %v and %d in these paths; a stray % would corrupt them.
    if "%" in str(out_dir):
        raise ValueError(f"output directory may not contain '%': {out_dir}")


def is_last(span: ChunkSpan, probe: ProbeResult) -> bool:
    """The last chunk runs to the source's end (plan_chunks gives it the probed duration)."""
    return span.end_s >= probe.duration_s - EPSILON_S


_NTSC_BASES = (15, 24, 30, 48, 60, 120, 240)


def output_rate(probe: ProbeResult, rendition: Rendition) -> Fraction:
    """The exact frame rate of the rendition's output: what its fps filter parses, else the
    source's rate (the probe prints 29.97 for 30000/1001; 6 h of the difference is a frame)."""
    steps = rate_filter(probe, rendition)
    if steps:
        return Fraction(steps[0].removeprefix("fps="))
    for base in _NTSC_BASES:
        ntsc = Fraction(base * 1000, 1001)
        if abs(probe.fps - float(ntsc)) < 0.006:
            return ntsc
    return Fraction(probe.fps).limit_denominator(1001)


def cut_s(boundary_s: float, rate: Fraction) -> Fraction:
    """Where to cut the decoded frames so each lands in the chunk its output frame slot
    belongs to: half a slot before the first slot at or after the boundary.

    The constant-rate output puts a frame in slot round(t * rate), so a frame belongs to the
    chunk from `boundary_s` on exactly when t >= this. A source whose frames sit off the
    slots (an MPEG-TS whose video starts after its audio) would otherwise put a frame in
    the chunk before the slot it is shown in."""
    first_slot = math.ceil(Fraction(boundary_s) * rate)
    return (first_slot - Fraction(1, 2)) / rate


def _trim_bound(name: str, boundary_s: float, rate: Fraction, *, slots: bool) -> str:
    if slots:
        # After an fps filter the pts are whole slots of 1/rate: cut at the first slot (in
        # seconds the half slot would be rounded to a slot by trim, either way).
        return f"{name}_pts={math.ceil(Fraction(boundary_s) * rate)}"
    return f"{name}={_fmt(float(cut_s(boundary_s, rate)))}"


def chunk_filter_graph(probe: ProbeResult, ladder: Sequence[Rendition], span: ChunkSpan) -> str:
    """Decode once, split per rendition; each branch converts the rate, keeps the chunk's
    frames (trim on pts: the same cut in both chunks that share a boundary) and scales."""
    splits = "".join(f"[s{i}]" for i in range(len(ladder)))
    chains = [f"[0:V:0]split={len(ladder)}{splits}"]
    for i, rendition in enumerate(ladder):
        rate = output_rate(probe, rendition)
        rate_steps = rate_filter(probe, rendition)
        bounds = []
        if span.start_s > 0:
            bounds.append(_trim_bound("start", span.start_s, rate, slots=bool(rate_steps)))
        if not is_last(span, probe):
            bounds.append(_trim_bound("end", span.end_s, rate, slots=bool(rate_steps)))
        trim = [f"trim={':'.join(bounds)}"] if bounds else []
        steps = rate_steps + trim + picture_filters(rendition)
        chains.append(f"[s{i}]{','.join(steps)}[v{i}]")
    return ";".join(chains)


def _hls_args(segment_s: int) -> list[str]:
    return [
        "-f", "hls",
        "-hls_time", str(segment_s),
        "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4",
        # temp_file: a segment under its own name is whole (as run_transcode writes them).
        "-hls_flags", "independent_segments+temp_file",
        "-hls_fmp4_init_filename", INIT_NAME,
    ]  # fmt: skip


def chunk_argv(
    ffmpeg: str,
    source: Path,
    probe: ProbeResult,
    ladder: Sequence[Rendition],
    span: ChunkSpan,
    out_dir: Path,
    *,
    preset: str = "veryfast",
    threads: int = 0,
    segment_s: int = 4,
    gop_s: int = 2,
) -> list[str]:
    """One ffmpeg process that encodes the chunk's frames in every rendition, video only,
    as <name>/init.mp4 + <name>/seg_NNNNN.m4s (numbered from 0 in each chunk)."""
    if not ladder:
        raise ValueError("the ladder is empty")
    _check_out_dir(out_dir)
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-y", "-progress", "pipe:1", "-nostats"]
    argv += ["-copyts", "-start_at_zero"]
    seek_s = span.start_s - SEEK_MARGIN_S
    if seek_s > 0 and probe.format_name in INDEXED_FORMATS:
        argv += ["-ss", _fmt(seek_s)]
    argv += input_args(source, probe.format_name)
    argv += ["-filter_complex", chunk_filter_graph(probe, ladder, span)]
    for i, _ in enumerate(ladder):
        argv += ["-map", f"[v{i}]"]
    argv += ["-map_metadata", "-1", "-map_chapters", "-1"]
    argv += video_encoder_args(ladder, preset=preset, gop_s=gop_s, threads=threads)
    if span.start_s <= 0:
        # run_transcode's constant frame rate starts at 0, so a video that starts after the
        # audio gets its first frame repeated from 0; -copyts would otherwise start each
        # chunk at its first frame (as every later chunk must: its frames follow on).
        argv += ["-fps_mode", "cfr"]
    argv += ["-avoid_negative_ts", "disabled"]
    argv += _hls_args(segment_s)
    # tfdt = the first sample's own decode time, not 0: the timeline continues across chunks.
    argv += ["-hls_segment_options", "movflags=+frag_discont"]
    argv += [
        "-hls_segment_filename", str(out_dir / "%v" / SEGMENT_PATTERN),
        "-var_stream_map", " ".join(f"v:{i},name:{r.name}" for i, r in enumerate(ladder)),
        str(out_dir / "%v" / MEDIA_PLAYLIST),
    ]  # fmt: skip
    if probe.has_audio and any(r.audio for r in ladder):
        argv += _timeline_output("0:a:0", "-frames:a")
    return argv


def _timeline_output(stream: str, frames_option: str) -> list[str]:
    """A second output that reads one packet of the other stream run_transcode reads.

    ffmpeg starts the timeline (0 after -start_at_zero) at the first timestamp of the
    streams it reads, so a chunk reading only the video of a source whose audio starts
    first would put every frame earlier than run_transcode does (and the audio job,
    reading only audio, would do the reverse): each reads the other stream too."""
    return ["-map", stream, "-c", "copy", frames_option, "1", "-f", "null", "-"]


def audio_argv(
    ffmpeg: str, source: Path, probe: ProbeResult, out_dir: Path, *, segment_s: int = 4
) -> list[str]:
    """The whole source's first audio stream as AAC in audio/init.mp4 + audio/seg_NNNNN.m4s.

    Without the shift to non-negative timestamps the init's edit list skips the AAC
    priming, as the chunks' edit list skips their B-frame delay, so both start at 0."""
    _check_out_dir(out_dir)
    audio_dir = out_dir / AUDIO_NAME
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-y", "-progress", "pipe:1", "-nostats"]
    argv += input_args(source, probe.format_name)
    argv += ["-map", "0:a:0", "-map_metadata", "-1", "-map_chapters", "-1"]
    argv += AUDIO_ENCODER_ARGS
    argv += ["-avoid_negative_ts", "disabled"]
    argv += _hls_args(segment_s)
    argv += ["-hls_segment_filename", str(audio_dir / SEGMENT_PATTERN)]
    argv += [str(audio_dir / MEDIA_PLAYLIST)]
    argv += _timeline_output("0:V:0", "-frames:v")
    return argv


# -- runners ------------------------------------------------------------------------------------


def chunk_timeout_s(span: ChunkSpan, probe: ProbeResult) -> float:
    """The chunk's own encode budget, plus a second per second of source decoded before it
    when the container cannot seek there (decoding alone runs far faster than that)."""
    skipped_s = 0.0 if probe.format_name in INDEXED_FORMATS else span.start_s
    return transcode_timeout_s(span.duration_s) + skipped_s


def _require_empty(out_dir: Path) -> None:
    # Files left by another attempt must never be read back as this one's output.
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise ValueError(f"output directory {out_dir} is not empty")


def _run(
    argv: list[str],
    *,
    what: str,
    parser: ProgressParser,
    stop: StopToken,
    on_progress: Callable[[Progress], None],
    timeout_s: float,
    limits: ResourceLimits | None,
) -> ChildResult:
    def on_line(line: str) -> None:
        progress = parser.feed(line)
        if progress is not None:
            on_progress(progress)

    result = run_child(
        argv,
        stop=stop,
        timeout_s=timeout_s,
        limits=limits if limits is not None else DEFAULT_LIMITS,
        on_stdout_line=on_line,
    )
    classify_result(result, stop, what)
    return result


def encode_chunk(
    ffmpeg: str,
    source: Path,
    probe: ProbeResult,
    ladder: Sequence[Rendition],
    span: ChunkSpan,
    out_dir: Path,
    *,
    stop: StopToken,
    on_progress: Callable[[Progress], None],
    threads: int = 0,
    preset: str = "veryfast",
    poster: bool = False,
    limits: ResourceLimits | None = None,
    timeout_s: float | None = None,
) -> PartOutput:
    """Encode one chunk into out_dir (which must be empty), check it is whole and return
    its manifest. poster=True (the chunk holding commands.poster_time_s) also writes
    poster.jpg and thumbnail.jpg."""
    _require_empty(out_dir)
    what = f"chunk {span.index}"
    argv = chunk_argv(ffmpeg, source, probe, ladder, span, out_dir, preset=preset, threads=threads)
    result = _run(
        argv,
        what=what,
        # ffmpeg reports out_time from the output's first frame (5.1 and 9.0 alike).
        parser=ProgressParser(span.duration_s),
        stop=stop,
        on_progress=on_progress,
        timeout_s=timeout_s if timeout_s is not None else chunk_timeout_s(span, probe),
        limits=limits,
    )
    tracks = tuple(read_track(out_dir, r.name, what=what) for r in ladder)
    part = PartOutput(kind="chunk", index=span.index, tracks=tracks)
    check_chunk(part, span, ladder, probe.duration_s, last=is_last(span, probe))
    if poster:
        make_poster(ffmpeg, source, probe, ladder[0], out_dir, stop=stop, limits=limits)
        part = PartOutput(
            kind=part.kind,
            index=part.index,
            tracks=part.tracks,
            poster=POSTER_NAME,
            thumbnail=THUMBNAIL_NAME,
        )
    # The files are complete, but a stop that arrived meanwhile still wins.
    classify_result(result, stop, what)
    return part


def encode_audio(
    ffmpeg: str,
    source: Path,
    probe: ProbeResult,
    out_dir: Path,
    *,
    stop: StopToken,
    on_progress: Callable[[Progress], None],
    limits: ResourceLimits | None = None,
    timeout_s: float | None = None,
) -> PartOutput:
    """Encode the source's audio into out_dir (which must be empty) and return its
    manifest; the source must have audio."""
    if not probe.has_audio:
        raise ValueError("the source has no audio stream")
    _require_empty(out_dir)
    (out_dir / AUDIO_NAME).mkdir()  # the hls muxer makes a variant's directory only for %v
    result = _run(
        audio_argv(ffmpeg, source, probe, out_dir),
        what="audio",
        parser=ProgressParser(probe.duration_s),
        stop=stop,
        on_progress=on_progress,
        timeout_s=timeout_s if timeout_s is not None else transcode_timeout_s(probe.duration_s),
        limits=limits,
    )
    fold_short_tail(out_dir / AUDIO_NAME)
    track = read_track(out_dir, AUDIO_NAME, what="audio")
    check_audio(track, probe.duration_s)
    classify_result(result, stop, "audio")
    return PartOutput(kind="audio", index=0, tracks=(track,))
