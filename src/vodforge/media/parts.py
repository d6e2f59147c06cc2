"""Part manifests: what a chunk or audio job wrote, read back from its files and checked.

media.chunks runs ffmpeg to write a part; its manifest (PartOutput, kept as JSON in the job's
result) is all the stitch (media.stitch) plans from, so it lives apart from the runners.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vodforge.domain.chunks import ChunkSpan
from vodforge.domain.ladder import Rendition
from vodforge.errors import ErrorCode, RetryableError
from vodforge.media.commands import MEDIA_PLAYLIST
from vodforge.media.fmp4 import Fmp4Error, read_init, read_segment
from vodforge.media.hls import (
    AAC_LC_CODEC,
    ALIGNMENT_TOLERANCE_S,
    DURATION_TOLERANCE_S,
    PlaylistError,
    init_segment_facts,
    parse_media_playlist,
)

AUDIO_NAME = "audio"  # the audio job's one track, beside the renditions' names
# Timestamps are whole units of a track's timescale; a boundary compared in seconds may be
# off by one of those units, never by more than this.
EPSILON_S = 0.001


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


def _fmt(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


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
    return 1.0 / rendition.fps + EPSILON_S if rendition.fps > 0 else DURATION_TOLERANCE_S


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
        if not low - EPSILON_S <= track.start_s <= high:
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
