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

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from vodforge.domain.chunks import ChunkSpan
from vodforge.domain.ladder import Rendition
from vodforge.errors import ErrorCode, RetryableError
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
from vodforge.media.fmp4 import Fmp4Error, read_init, read_segment
from vodforge.media.hls import (
    AAC_LC_CODEC,
    ALIGNMENT_TOLERANCE_S,
    DURATION_TOLERANCE_S,
    PlaylistError,
    init_segment_facts,
    parse_media_playlist,
)
from vodforge.media.probe import ProbeResult, input_args
from vodforge.media.progress import Progress, ProgressParser
from vodforge.media.transcode import (
    DEFAULT_LIMITS,
    classify_result,
    make_poster,
    transcode_timeout_s,
)
from vodforge.process import ChildResult, ResourceLimits, StopToken, run_child

AUDIO_NAME = "audio"
SEEK_MARGIN_S = 1.0  # decode from this long before a chunk, so rate conversion is warm
# Demuxers whose seek lands on the keyframe at or before the point, by the file's index.
# Elsewhere (MPEG-TS: seen landing on the keyframe *after* it, losing the frames between)
# a chunk decodes from the start of the file: slower, never wrong.
INDEXED_FORMATS = frozenset({"mov"})
# Timestamps are whole units of a track's timescale; a boundary compared in seconds may be
# off by one of those units, never by more than this.
_EPSILON_S = 0.001


@dataclass(frozen=True)
class SegmentPart:
    path: str  # relative to the part's out_dir, e.g. "720p/seg_00000.m4s"
    duration_s: float
    size: int
    keyframe_start: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "duration_s": self.duration_s,
            "size": self.size,
            "keyframe_start": self.keyframe_start,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SegmentPart:
        return cls(
            str(data["path"]),
            float(data["duration_s"]),
            int(data["size"]),
            bool(data["keyframe_start"]),
        )


@dataclass(frozen=True)
class TrackPart:
    """One rendition's (or the audio's) output of one chunk or audio job."""

    name: str  # "1080p", ..., or "audio"
    init: str  # relative to the part's out_dir, e.g. "1080p/init.mp4"
    init_sha256: str
    codecs: str  # e.g. "avc1.64001f" or "mp4a.40.2"
    width: int  # 0 for audio
    height: int
    timescale: int
    start: int  # tfdt of the first fragment, in timescale units
    end: int  # start + every sample's duration
    samples: int  # frames (video) / AAC frames (audio)
    segments: tuple[SegmentPart, ...]

    @property
    def start_s(self) -> float:
        return self.start / self.timescale

    @property
    def end_s(self) -> float:
        return self.end / self.timescale

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "init": self.init,
            "init_sha256": self.init_sha256,
            "codecs": self.codecs,
            "width": self.width,
            "height": self.height,
            "timescale": self.timescale,
            "start": self.start,
            "end": self.end,
            "samples": self.samples,
            "segments": [segment.to_json() for segment in self.segments],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrackPart:
        return cls(
            name=str(data["name"]),
            init=str(data["init"]),
            init_sha256=str(data["init_sha256"]),
            codecs=str(data["codecs"]),
            width=int(data["width"]),
            height=int(data["height"]),
            timescale=int(data["timescale"]),
            start=int(data["start"]),
            end=int(data["end"]),
            samples=int(data["samples"]),
            segments=tuple(SegmentPart.from_json(s) for s in data["segments"]),
        )


@dataclass(frozen=True)
class PartOutput:
    """What a chunk or audio job wrote: the manifest the stitch works from."""

    kind: str  # "chunk" or "audio"
    index: int  # chunk index; 0 for audio
    tracks: tuple[TrackPart, ...]
    poster: str | None = None  # relative paths, set by the chunk that made them
    thumbnail: str | None = None

    def track(self, name: str) -> TrackPart | None:
        return next((t for t in self.tracks if t.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "index": self.index,
            "tracks": [track.to_json() for track in self.tracks],
            "poster": self.poster,
            "thumbnail": self.thumbnail,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartOutput:
        return cls(
            kind=str(data["kind"]),
            index=int(data["index"]),
            tracks=tuple(TrackPart.from_json(t) for t in data["tracks"]),
            poster=data.get("poster"),
            thumbnail=data.get("thumbnail"),
        )


# -- command lines ------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _check_out_dir(out_dir: Path) -> None:
    # The hls muxer expands %v and %d in these paths; a stray % would corrupt them.
    if "%" in str(out_dir):
        raise ValueError(f"output directory may not contain '%': {out_dir}")


def is_last(span: ChunkSpan, probe: ProbeResult) -> bool:
    """The last chunk runs to the source's end (plan_chunks gives it the probed duration)."""
    return span.end_s >= probe.duration_s - _EPSILON_S


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


SHORT_TAIL_S = 0.5


def fold_short_tail(track_dir: Path, min_s: float = SHORT_TAIL_S) -> None:
    """Append a last segment shorter than min_s to the one before it.

    The audio job's last segment is often a single AAC frame (the encoder's priming frame
    pushes the 4 s cuts 21 ms late, so the source's final frame is left over), and hls.js
    never appends such a sliver: it then never ends the stream, and playback stalls a frame
    before the end. Two fragments in one segment are still one fMP4 media segment."""
    path = track_dir / MEDIA_PLAYLIST
    playlist = parse_media_playlist(path.read_text(encoding="utf-8"))
    segments = playlist.segments
    if len(segments) < 2 or segments[-1].duration_s >= min_s:
        return
    before, last = segments[-2], segments[-1]
    with (track_dir / before.uri).open("ab") as merged:
        merged.write((track_dir / last.uri).read_bytes())
    (track_dir / last.uri).unlink()
    lines = path.read_text(encoding="utf-8").splitlines()
    at_last, at_before = lines.index(last.uri), lines.index(before.uri)
    # Each URI line follows its EXTINF line: drop the last pair, lengthen the one before.
    lines[at_before - 1] = f"#EXTINF:{before.duration_s + last.duration_s:.6f},"
    del lines[at_last - 1 : at_last + 1]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- reading the output back --------------------------------------------------------------------


def _invalid(message: str) -> RetryableError:
    return RetryableError(f"output invalid: {message}", code=ErrorCode.OUTPUT_INVALID)


def read_track(out_dir: Path, name: str, *, what: str) -> TrackPart:
    """The manifest of out_dir/<name>/: its playlist, init segment and media segments."""
    playlist_rel = f"{name}/{MEDIA_PLAYLIST}"
    try:
        playlist = parse_media_playlist((out_dir / playlist_rel).read_text(encoding="utf-8"))
        if not playlist.endlist or not playlist.segments or playlist.map_uri is None:
            raise PlaylistError("no EXT-X-ENDLIST, no segments or no EXT-X-MAP")
        init_rel = f"{name}/{playlist.map_uri}"
        init = (out_dir / init_rel).read_bytes()
        (track,) = read_init(init)  # one track per variant: we map one stream to each
        if track.sample_entry == "mp4a":
            codecs, width, height = AAC_LC_CODEC, 0, 0
        else:
            codecs, width, height, _ = init_segment_facts(init)
        segments: list[SegmentPart] = []
        start = end = samples = 0
        for index, segment in enumerate(playlist.segments):
            data = (out_dir / name / segment.uri).read_bytes()
            run = read_segment(data, (track,))[track.track_id]
            if index == 0:
                start = run.base_decode_time
            elif run.base_decode_time != end:
                raise PlaylistError(
                    f"{segment.uri} starts at {run.base_decode_time}, the segment before "
                    f"ends at {end} (timescale {track.timescale})"
                )
            end = run.end
            samples += run.samples
            segments.append(
                SegmentPart(
                    path=f"{name}/{segment.uri}",
                    duration_s=run.duration / track.timescale,
                    size=len(data),
                    keyframe_start=run.first_is_sync,
                )
            )
    except (OSError, UnicodeDecodeError, PlaylistError, Fmp4Error, KeyError, ValueError) as exc:
        raise _invalid(f"{what}: {playlist_rel}: {exc}") from None
    return TrackPart(
        name=name,
        init=init_rel,
        init_sha256=hashlib.sha256(init).hexdigest(),
        codecs=codecs,
        width=width,
        height=height,
        timescale=track.timescale,
        start=start,
        end=end,
        samples=samples,
        segments=tuple(segments),
    )


def frame_s(rendition: Rendition) -> float:
    """One frame at the rendition's rate, plus a timescale unit of rounding."""
    return 1.0 / rendition.fps + _EPSILON_S if rendition.fps > 0 else DURATION_TOLERANCE_S


def check_chunk(
    part: PartOutput,
    span: ChunkSpan,
    ladder: Sequence[Rendition],
    source_duration_s: float,
    *,
    last: bool,
) -> None:
    """Raise OUTPUT_INVALID unless the chunk is whole: every planned rendition at its size,
    every segment starting on a keyframe, the span covered within one frame (the last
    chunk's end within the package tolerance of the source's), the same segment boundaries
    in every rendition."""
    where = f"chunk {span.index} ({_fmt(span.start_s)}-{_fmt(span.end_s)} s)"
    first: TrackPart | None = None
    for rendition in ladder:
        track = part.track(rendition.name)
        if track is None:
            raise _invalid(f"{where} has no {rendition.name}")
        if (track.width, track.height) != (rendition.width, rendition.height):
            raise _invalid(
                f"{where}: {rendition.name} is {track.width}x{track.height}, "
                f"planned {rendition.width}x{rendition.height}"
            )
        if not track.segments or track.samples <= 0:
            raise _invalid(f"{where}: {rendition.name} has no frames")
        for segment in track.segments:
            if not segment.keyframe_start:
                raise _invalid(f"{where}: {segment.path} does not start with a keyframe")
            if segment.size <= 0:
                raise _invalid(f"{where}: {segment.path} is empty")
        frame = frame_s(rendition)
        low = span.start_s if span.index > 0 else 0.0
        high = span.start_s + (frame if span.index > 0 else DURATION_TOLERANCE_S)
        if not low - _EPSILON_S <= track.start_s <= high:
            raise _invalid(
                f"{where}: {rendition.name} starts at {track.start_s:.6f} s, "
                f"not within one frame of {_fmt(span.start_s)} s"
            )
        end_s = source_duration_s if last else span.end_s
        tolerance = frame + (DURATION_TOLERANCE_S if last else 0.0)
        if abs(track.end_s - end_s) > tolerance:
            raise _invalid(
                f"{where}: {rendition.name} ends at {track.end_s:.6f} s, expected {end_s:.6f} s"
            )
        if first is None:
            first = track
        else:
            check_aligned(first, track, where)


def check_aligned(first: TrackPart, other: TrackPart, where: str) -> None:
    """Equal segment boundaries: a player can switch renditions at any segment."""
    if len(other.segments) != len(first.segments):
        raise _invalid(
            f"{where}: {other.name} has {len(other.segments)} segments, "
            f"{first.name} has {len(first.segments)}"
        )
    at_first, at_other = first.start_s, other.start_s
    for index, (a, b) in enumerate(zip(first.segments, other.segments, strict=True)):
        if abs(at_first - at_other) > ALIGNMENT_TOLERANCE_S:
            raise _invalid(f"{where}: segment {index} of {other.name} is not aligned")
        at_first += a.duration_s
        at_other += b.duration_s


def check_audio(track: TrackPart, source_duration_s: float) -> None:
    """Raise OUTPUT_INVALID unless the audio lasts the source, within the package tolerance
    plus one AAC frame (the encoder's priming)."""
    duration_s = track.end_s - track.start_s
    if not track.segments or track.samples <= 0:
        raise _invalid("audio has no samples")
    if not math.isclose(duration_s, source_duration_s, abs_tol=DURATION_TOLERANCE_S + 0.025):
        raise _invalid(f"audio lasts {duration_s:.3f} s, source {source_duration_s:.3f} s")
