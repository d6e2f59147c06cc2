"""Parses HLS playlists, validates a transcoded package and rewrites its master playlist.

A package that fails validation raises RetryableError(OUTPUT_INVALID): the source already
passed the probe, so a bad package points at our side (a full disk, a killed writer, an
encoder fault) that another attempt may not repeat; the attempt limit bounds the cost.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from vodforge.domain.ladder import Rendition
from vodforge.errors import ErrorCode, RetryableError
from vodforge.media.fmp4 import Fmp4Error, iter_boxes

DURATION_TOLERANCE_S = 0.25
ALIGNMENT_TOLERANCE_S = 0.05
FMP4_MIN_VERSION = 7
AAC_LC_CODEC = "mp4a.40.2"


class PlaylistError(ValueError):
    """The text is not a playlist we can read."""


@dataclass(frozen=True)
class Segment:
    uri: str
    duration_s: float
    byterange: tuple[int, int | None] | None = None  # (length, offset)


@dataclass(frozen=True)
class MediaPlaylist:
    version: int | None
    target_duration: int
    media_sequence: int
    playlist_type: str | None
    independent_segments: bool
    map_uri: str | None
    segments: tuple[Segment, ...]
    endlist: bool

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)


@dataclass(frozen=True)
class Variant:
    uri: str
    attributes: dict[str, str]


@dataclass(frozen=True)
class MasterPlaylist:
    version: int | None
    independent_segments: bool
    variants: tuple[Variant, ...]


@dataclass(frozen=True)
class RenditionReport:
    name: str
    width: int
    height: int
    fps: float
    playlist: str  # relative to the package root, e.g. "720p/index.m3u8"
    duration_s: float
    segment_count: int
    peak_bps: int
    average_bps: int
    codecs: str


@dataclass(frozen=True)
class PackageReport:
    master: Path
    duration_s: float
    segment_count: int
    renditions: tuple[RenditionReport, ...]


_ATTRIBUTE_RE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def parse_attributes(text: str) -> dict[str, str]:
    """Parse an attribute list (KEY=VALUE,KEY="quoted, value"); quotes are removed."""
    return {key: value.strip('"') for key, value in _ATTRIBUTE_RE.findall(text)}


def _lines(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines or lines[0] != "#EXTM3U":
        raise PlaylistError("playlist does not start with #EXTM3U")
    return lines


def parse_media_playlist(text: str) -> MediaPlaylist:
    """Parse a media playlist; raise PlaylistError on anything malformed."""
    lines = _lines(text)
    version: int | None = None
    target: int | None = None
    sequence = 0
    playlist_type: str | None = None
    independent = endlist = False
    map_uri: str | None = None
    segments: list[Segment] = []
    pending: float | None = None
    pending_range: tuple[int, int | None] | None = None
    range_end: int | None = None  # where a BYTERANGE without @offset starts
    try:
        for line in lines[1:]:
            tag, _, value = line.partition(":")
            if tag == "#EXT-X-VERSION":
                version = int(value)
            elif tag == "#EXT-X-TARGETDURATION":
                target = int(value)
            elif tag == "#EXT-X-MEDIA-SEQUENCE":
                sequence = int(value)
            elif tag == "#EXT-X-PLAYLIST-TYPE":
                playlist_type = value
            elif tag == "#EXT-X-INDEPENDENT-SEGMENTS":
                independent = True
            elif tag == "#EXT-X-MAP":
                map_uri = parse_attributes(value).get("URI")
                if not map_uri:
                    raise PlaylistError("EXT-X-MAP without URI")
            elif tag == "#EXTINF":
                pending = float(value.split(",", 1)[0])
                if pending < 0:
                    raise PlaylistError(f"negative EXTINF {value!r}")
            elif tag == "#EXT-X-BYTERANGE":
                length, _, offset_text = value.partition("@")
                offset = int(offset_text) if offset_text else range_end
                pending_range = (int(length), offset)
                range_end = None if offset is None else offset + int(length)
            elif tag == "#EXT-X-ENDLIST":
                endlist = True
            elif line.startswith("#"):
                continue  # unknown tags and comments are allowed by RFC 8216
            else:
                if pending is None:
                    raise PlaylistError(f"segment {line!r} has no EXTINF")
                segments.append(Segment(line, pending, pending_range))
                pending, pending_range = None, None
    except ValueError as exc:
        if isinstance(exc, PlaylistError):
            raise
        raise PlaylistError(f"bad number in playlist: {exc}") from None
    if target is None:
        raise PlaylistError("missing EXT-X-TARGETDURATION")
    if pending is not None:
        raise PlaylistError("EXTINF without a segment URI")
    return MediaPlaylist(
        version=version,
        target_duration=target,
        media_sequence=sequence,
        playlist_type=playlist_type,
        independent_segments=independent,
        map_uri=map_uri,
        segments=tuple(segments),
        endlist=endlist,
    )


def parse_master_playlist(text: str) -> MasterPlaylist:
    """Parse a master playlist's variants; raise PlaylistError on anything malformed."""
    lines = _lines(text)
    version: int | None = None
    independent = False
    variants: list[Variant] = []
    pending: dict[str, str] | None = None
    for line in lines[1:]:
        tag, _, value = line.partition(":")
        if tag == "#EXT-X-VERSION":
            try:
                version = int(value)
            except ValueError:
                raise PlaylistError(f"bad EXT-X-VERSION {value!r}") from None
        elif tag == "#EXT-X-INDEPENDENT-SEGMENTS":
            independent = True
        elif tag == "#EXT-X-STREAM-INF":
            pending = parse_attributes(value)
        elif line.startswith("#EXTINF"):
            raise PlaylistError("a media playlist, not a master playlist")
        elif not line.startswith("#"):
            if pending is None:
                raise PlaylistError(f"URI {line!r} without EXT-X-STREAM-INF")
            variants.append(Variant(line, pending))
            pending = None
    if not variants:
        raise PlaylistError("master playlist has no variants")
    return MasterPlaylist(version, independent, tuple(variants))


def peak_bitrate(sizes: Sequence[int], durations: Sequence[float], target_s: float) -> float:
    """RFC 8216 peak segment bit rate: the highest rate over any run of contiguous segments
    lasting 0.5-1.5x the target duration (the whole playlist if none qualifies)."""
    best = 0.0
    for start in range(len(sizes)):
        total_bytes, total_s = 0, 0.0
        for end in range(start, len(sizes)):
            total_bytes += sizes[end]
            total_s += durations[end]
            if total_s > 1.5 * target_s:
                break
            if total_s >= 0.5 * target_s:
                best = max(best, total_bytes * 8 / total_s)
    if best == 0.0 and sum(durations) > 0:
        best = sum(sizes) * 8 / sum(durations)
    return best


_CONTAINER_BOXES = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
_SAMPLE_ENTRY_FIELDS = {b"avc1": 78, b"mp4a": 28}  # bytes before a sample entry's children


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) for each ISO BMFF box in data[start:end]."""
    try:
        yield from iter_boxes(data, start, end, what="init segment")
    except Fmp4Error as exc:
        raise PlaylistError(str(exc)) from None


def _sample_entries(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    for kind, payload, box_end in _boxes(data, start, end):
        if kind in _CONTAINER_BOXES:
            yield from _sample_entries(data, payload, box_end)
        elif kind == b"stsd":
            yield from _boxes(data, payload + 8, box_end)  # version/flags, entry count


def init_segment_facts(data: bytes) -> tuple[str, int, int, bool]:
    """From an fMP4 init segment: (avc1 codec string, coded width, height, has AAC audio)."""
    codec: str | None = None
    width = height = 0
    has_aac = False
    for kind, payload, end in _sample_entries(data, 0, len(data)):
        if kind == b"mp4a":
            has_aac = True
        if kind != b"avc1" or codec is not None:
            continue
        width = int.from_bytes(data[payload + 24 : payload + 26], "big")
        height = int.from_bytes(data[payload + 26 : payload + 28], "big")
        for child, child_payload, _ in _boxes(data, payload + _SAMPLE_ENTRY_FIELDS[kind], end):
            if child == b"avcC":
                profile, compat, level = data[child_payload + 1 : child_payload + 4]
                codec = f"avc1.{profile:02x}{compat:02x}{level:02x}"
    if codec is None:
        raise PlaylistError("init segment has no H.264 (avc1/avcC) sample description")
    return codec, width, height, has_aac


def _invalid(message: str) -> RetryableError:
    return RetryableError(f"output invalid: {message}", code=ErrorCode.OUTPUT_INVALID)


def _check_rendition(
    out_dir: Path, rendition: Rendition, playlist_rel: str, source_duration_s: float
) -> tuple[RenditionReport, MediaPlaylist]:
    playlist_path = out_dir / playlist_rel
    try:
        playlist = parse_media_playlist(playlist_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, PlaylistError) as exc:
        raise _invalid(f"{playlist_rel}: {exc}") from None
    if not playlist.endlist:
        raise _invalid(f"{playlist_rel} has no EXT-X-ENDLIST")
    if not playlist.segments:
        raise _invalid(f"{playlist_rel} has no segments")
    if playlist.map_uri is None:
        raise _invalid(f"{playlist_rel} has no EXT-X-MAP (fMP4 init segment)")
    for segment in playlist.segments:
        if round(segment.duration_s) > playlist.target_duration:
            raise _invalid(f"{playlist_rel}: segment longer than EXT-X-TARGETDURATION")
    if abs(playlist.duration_s - source_duration_s) > DURATION_TOLERANCE_S:
        raise _invalid(
            f"{playlist_rel} lasts {playlist.duration_s:.3f} s, source {source_duration_s:.3f} s"
        )
    base = playlist_path.parent
    try:
        init = (base / playlist.map_uri).read_bytes()
        sizes = [(base / s.uri).stat().st_size for s in playlist.segments]
    except OSError as exc:
        raise _invalid(f"{playlist_rel}: {exc}") from None
    if not all(sizes):
        raise _invalid(f"{playlist_rel} has an empty segment")
    try:
        avc, width, height, has_aac = init_segment_facts(init)
    except PlaylistError as exc:
        raise _invalid(f"{playlist_rel}: {exc}") from None
    if (width, height) != (rendition.width, rendition.height):
        raise _invalid(
            f"{rendition.name} is {width}x{height}, planned {rendition.width}x{rendition.height}"
        )
    if rendition.audio and not has_aac:
        raise _invalid(f"{rendition.name} has no audio track")
    durations = [s.duration_s for s in playlist.segments]
    total_s = sum(durations)
    report = RenditionReport(
        name=rendition.name,
        width=width,
        height=height,
        fps=rendition.fps,
        playlist=playlist_rel,
        duration_s=total_s,
        segment_count=len(durations),
        peak_bps=math.ceil(peak_bitrate(sizes, durations, playlist.target_duration)),
        average_bps=math.ceil(sum(sizes) * 8 / total_s) if total_s > 0 else 0,
        codecs=f"{avc},{AAC_LC_CODEC}" if rendition.audio else avc,
    )
    return report, playlist


def validate_package(
    out_dir: Path, source_duration_s: float, ladder: Sequence[Rendition]
) -> PackageReport:
    """Check every rendition of a package against the source and ladder, then rewrite
    master.m3u8 with measured BANDWIDTH/AVERAGE-BANDWIDTH and full variant attributes."""
    master_path = out_dir / "master.m3u8"
    try:
        master = parse_master_playlist(master_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, PlaylistError) as exc:
        raise _invalid(f"master.m3u8: {exc}") from None
    uris = {variant.uri for variant in master.variants}
    reports: list[RenditionReport] = []
    playlists: list[MediaPlaylist] = []
    for rendition in ladder:
        playlist_rel = f"{rendition.name}/index.m3u8"
        if playlist_rel not in uris:
            raise _invalid(f"master.m3u8 does not list {playlist_rel}")
        report, playlist = _check_rendition(out_dir, rendition, playlist_rel, source_duration_s)
        reports.append(report)
        playlists.append(playlist)
    _check_alignment(reports, playlists)
    write_master(master_path, reports)
    return PackageReport(
        master=master_path,
        duration_s=reports[0].duration_s,
        segment_count=reports[0].segment_count,
        renditions=tuple(reports),
    )


def _check_alignment(reports: list[RenditionReport], playlists: list[MediaPlaylist]) -> None:
    # Equal segment boundaries in every rendition are what lets a player switch between
    # them at any segment: the keyframes were forced at the same times.
    first = playlists[0]
    for report, playlist in zip(reports[1:], playlists[1:], strict=True):
        if len(playlist.segments) != len(first.segments):
            raise _invalid(
                f"{report.name} has {len(playlist.segments)} segments, "
                f"{reports[0].name} has {len(first.segments)}"
            )
        for index, (a, b) in enumerate(zip(first.segments, playlist.segments, strict=True)):
            if abs(a.duration_s - b.duration_s) > ALIGNMENT_TOLERANCE_S:
                raise _invalid(f"segment {index} of {report.name} is not aligned")


def master_text(reports: Sequence[RenditionReport]) -> str:
    """The master playlist for these measured renditions, highest first."""
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{FMP4_MIN_VERSION}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for report in reports:
        attributes = ",".join(
            [
                f"BANDWIDTH={max(report.peak_bps, report.average_bps)}",
                f"AVERAGE-BANDWIDTH={report.average_bps}",
                f"RESOLUTION={report.width}x{report.height}",
                f'CODECS="{report.codecs}"',
                f"FRAME-RATE={report.fps:.3f}",
            ]
        )
        lines += [f"#EXT-X-STREAM-INF:{attributes}", report.playlist]
    return "\n".join(lines) + "\n"


def write_master(path: Path, reports: Sequence[RenditionReport]) -> None:
    """Replace the master playlist atomically, so a reader never sees half of it."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(master_text(reports), encoding="utf-8")
    os.replace(temporary, path)
