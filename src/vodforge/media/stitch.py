"""Plans the package of a chunked encode: which part files go where, and the playlists that
join the chunks' segments into one timeline, without re-encoding anything.

Pure: it reads only the parts' manifests (media.parts.PartOutput), never a file, and
validates them as strictly as validate_package checks an unchunked package, plus what only
chunks can get wrong: a missing chunk, a gap, an overlap or a timestamp jump at a boundary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vodforge.domain.ladder import Rendition
from vodforge.errors import ErrorCode, RetryableError
from vodforge.media.commands import (
    INIT_NAME,
    MASTER_NAME,
    MEDIA_PLAYLIST,
    POSTER_NAME,
    THUMBNAIL_NAME,
)
from vodforge.media.hls import (
    AAC_LC_CODEC,
    DURATION_TOLERANCE_S,
    FMP4_MIN_VERSION,
    PackageReport,
    RenditionReport,
    peak_bitrate,
)
from vodforge.media.parts import AUDIO_NAME, PartOutput, TrackPart, check_aligned, check_audio
from vodforge.media.parts import frame_s as frame_duration_s

AUDIO_GROUP = "audio"


@dataclass(frozen=True)
class StitchPlan:
    # (index into the parts list, path inside that part, path inside the package); the
    # parts list is the chunks in the order given, then the audio part if there is one.
    copies: tuple[tuple[int, str, str], ...]
    files: dict[str, bytes]  # package path -> bytes to write (media playlists, master.m3u8)
    report: PackageReport


@dataclass(frozen=True)
class _Entry:
    """One segment of a stitched playlist."""

    uri: str
    duration_s: float
    size: int
    map_uri: str | None = None  # a new EXT-X-MAP before this segment
    discontinuity: bool = False


def _invalid(message: str) -> RetryableError:
    return RetryableError(f"output invalid: {message}", code=ErrorCode.OUTPUT_INVALID)


def plan_stitch(
    chunks: Sequence[PartOutput],
    audio: PartOutput | None,
    ladder: Sequence[Rendition],
    source_duration_s: float,
) -> StitchPlan:
    """Validate the parts and lay them out as the unchunked package: master.m3u8,
    <name>/index.m3u8 + init.mp4 + seg_NNNNN.m4s numbered across chunks, audio/ the same,
    and poster.jpg/thumbnail.jpg from the chunk that made them."""
    if not ladder:
        raise ValueError("the ladder is empty")
    order = _chunk_order(chunks)
    audio_track = _audio_track(audio, ladder, source_duration_s)
    copies: list[tuple[int, str, str]] = []
    files: dict[str, bytes] = {}
    entries = {r.name: _video_entries(chunks, order, r, copies) for r in ladder}
    _mark_discontinuities(entries)
    for rendition in ladder:
        _check_rendition(rendition, entries[rendition.name], source_duration_s)
        files[f"{rendition.name}/{MEDIA_PLAYLIST}"] = _media_playlist(entries[rendition.name])
    audio_peak = audio_average = 0
    if audio_track is not None:
        audio_entries = _track_entries(len(chunks), audio_track, AUDIO_NAME, copies)
        files[f"{AUDIO_NAME}/{MEDIA_PLAYLIST}"] = _media_playlist(audio_entries)
        audio_peak, audio_average = _bitrates(audio_entries)
    reports = tuple(
        _report(rendition, chunks, order, entries[rendition.name], (audio_peak, audio_average))
        for rendition in ladder
    )
    files[MASTER_NAME] = stitched_master_text(reports, with_audio=audio_track is not None)
    copies += _images(chunks, order)
    return StitchPlan(
        copies=tuple(copies),
        files=files,
        report=PackageReport(
            master=Path(MASTER_NAME),
            duration_s=reports[0].duration_s,
            segment_count=reports[0].segment_count,
            renditions=reports,
        ),
    )


def _chunk_order(chunks: Sequence[PartOutput]) -> list[int]:
    """Positions in `chunks` sorted by chunk index, which must be exactly 0..n-1."""
    if not chunks:
        raise _invalid("no chunks to stitch")
    for part in chunks:
        if part.kind != "chunk":
            raise _invalid(f"a {part.kind!r} part was given as chunk {part.index}")
    order = sorted(range(len(chunks)), key=lambda position: chunks[position].index)
    indices = [chunks[position].index for position in order]
    if indices != list(range(len(chunks))):
        expected = set(range(max(max(indices) + 1, len(chunks))))
        missing = sorted(expected - set(indices))
        repeated = sorted({i for i in indices if indices.count(i) > 1})
        raise _invalid(
            f"chunks must be numbered 0..n-1 once each: got {indices}"
            + (f", chunk {missing[0]} is missing" if missing else "")
            + (f", chunk {repeated[0]} is given twice" if repeated else "")
        )
    return order


def _audio_track(
    audio: PartOutput | None, ladder: Sequence[Rendition], source_duration_s: float
) -> TrackPart | None:
    if audio is None:
        if any(r.audio for r in ladder):
            raise _invalid("the ladder has audio but no audio part was given")
        return None
    if audio.kind != "audio":
        raise _invalid(f"a {audio.kind!r} part was given as the audio")
    track = audio.track(AUDIO_NAME)
    if track is None:
        raise _invalid("the audio part has no audio track")
    check_audio(track, source_duration_s)
    return track


def _video_entries(
    chunks: Sequence[PartOutput],
    order: list[int],
    rendition: Rendition,
    copies: list[tuple[int, str, str]],
) -> list[_Entry]:
    """The rendition's segments over every chunk, checking each boundary on the way."""
    entries: list[_Entry] = []
    inits: dict[str, str] = {}  # init_sha256 -> its file in the package
    previous: TrackPart | None = None
    frame = frame_duration_s(rendition)
    for position in order:
        part = chunks[position]
        where = f"chunk {part.index}"
        track = part.track(rendition.name)
        if track is None:
            raise _invalid(f"{where} has no {rendition.name}")
        _check_track(track, rendition, where)
        first_of_part = len(entries)
        if previous is not None:
            _check_boundary(previous, track, frame, where)
        for other in part.tracks:
            if other.name != track.name and other.width:
                check_aligned(track, other, where)
        map_uri: str | None = None
        if previous is None or track.init_sha256 != previous.init_sha256:
            map_uri = inits.get(track.init_sha256)
            if map_uri is None:
                stem, dot, ext = INIT_NAME.rpartition(".")
                map_uri = INIT_NAME if not inits else f"{stem}_{len(inits)}{dot}{ext}"
                inits[track.init_sha256] = map_uri
                copies.append((position, track.init, f"{rendition.name}/{map_uri}"))
        for segment in track.segments:
            uri = f"seg_{len(entries):05d}.m4s"
            copies.append((position, segment.path, f"{rendition.name}/{uri}"))
            entries.append(_Entry(uri, segment.duration_s, segment.size))
        first = entries[first_of_part]
        # RFC 8216 4.3.2.5: an EXT-X-MAP applies to the segments after it until the next,
        # so a chunk whose init differs (same tracks, timescale and continuing timestamps:
        # another encoder build, say) needs only its own EXT-X-MAP. 4.3.2.3: a change of
        # encoding parameters (here a codec string) SHOULD also carry EXT-X-DISCONTINUITY.
        changed = previous is not None and track.codecs != previous.codecs
        entries[first_of_part] = _Entry(
            first.uri, first.duration_s, first.size, map_uri, discontinuity=changed
        )
        previous = track
    return entries


def _check_track(track: TrackPart, rendition: Rendition, where: str) -> None:
    if (track.width, track.height) != (rendition.width, rendition.height):
        raise _invalid(
            f"{where}: {rendition.name} is {track.width}x{track.height}, "
            f"planned {rendition.width}x{rendition.height}"
        )
    if not track.segments:
        raise _invalid(f"{where}: {rendition.name} has no segments")
    for number, segment in enumerate(track.segments):
        if not segment.keyframe_start:
            raise _invalid(
                f"{where}: segment {number} of {rendition.name} does not start with a keyframe"
            )
        if segment.size <= 0 or segment.duration_s <= 0:
            raise _invalid(f"{where}: segment {number} of {rendition.name} is empty")


def _check_boundary(before: TrackPart, after: TrackPart, frame_s: float, where: str) -> None:
    """The chunk must start where the one before it ends: no gap, overlap or jump."""
    if after.timescale != before.timescale:
        raise _invalid(
            f"{where}: {after.name} has timescale {after.timescale}, "
            f"the chunk before {before.timescale}"
        )
    # A whole frame between two chunks is a frame dropped (or, as overlap, encoded twice);
    # the chunks' decode times continue exactly, so less than half a frame is rounding.
    if abs(after.start_s - before.end_s) >= frame_s / 2:
        kind = "gap" if after.start_s > before.end_s else "overlap"
        raise _invalid(
            f"{where}: {after.name} starts at {after.start_s:.6f} s but the chunk before "
            f"ends at {before.end_s:.6f} s ({kind} of {abs(after.start_s - before.end_s):.6f} s)"
        )


def _mark_discontinuities(entries: dict[str, list[_Entry]]) -> None:
    """A discontinuity in one variant goes into every variant at the same segment: RFC 8216
    6.2.4 wants matching discontinuity sequence numbers for matching content. (The one
    audio rendition cannot follow; a codec change inside one encode is not expected.)"""
    marked = {i for playlist in entries.values() for i, e in enumerate(playlist) if e.discontinuity}
    for playlist in entries.values():
        for index in marked:
            if index < len(playlist) and not playlist[index].discontinuity:
                entry = playlist[index]
                playlist[index] = _Entry(
                    entry.uri, entry.duration_s, entry.size, entry.map_uri, discontinuity=True
                )


def _check_rendition(rendition: Rendition, entries: list[_Entry], source_duration_s: float) -> None:
    duration_s = sum(e.duration_s for e in entries)
    # The unchunked validate_package allows DURATION_TOLERANCE_S; a chunked package may
    # differ from the unchunked one by one more frame.
    tolerance = DURATION_TOLERANCE_S + frame_duration_s(rendition)
    if abs(duration_s - source_duration_s) > tolerance:
        raise _invalid(
            f"{rendition.name} lasts {duration_s:.3f} s, source {source_duration_s:.3f} s"
        )


def _track_entries(
    position: int, track: TrackPart, name: str, copies: list[tuple[int, str, str]]
) -> list[_Entry]:
    copies.append((position, track.init, f"{name}/{INIT_NAME}"))
    entries = []
    for number, segment in enumerate(track.segments):
        uri = f"seg_{number:05d}.m4s"
        copies.append((position, segment.path, f"{name}/{uri}"))
        entries.append(
            _Entry(uri, segment.duration_s, segment.size, INIT_NAME if not number else None)
        )
    return entries


def _target_duration(entries: Sequence[_Entry]) -> int:
    # RFC 8216 4.3.3.1: every EXTINF rounded to the nearest integer is at most this.
    return max(1, *(math.floor(e.duration_s + 0.5) for e in entries))


def _media_playlist(entries: Sequence[_Entry]) -> bytes:
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{FMP4_MIN_VERSION}",
        f"#EXT-X-TARGETDURATION:{_target_duration(entries)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    for entry in entries:
        if entry.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if entry.map_uri is not None:
            lines.append(f'#EXT-X-MAP:URI="{entry.map_uri}"')
        lines += [f"#EXTINF:{entry.duration_s:.6f},", entry.uri]
    lines.append("#EXT-X-ENDLIST")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _bitrates(entries: Sequence[_Entry]) -> tuple[int, int]:
    """(RFC 8216 peak segment bit rate, average bit rate) of one playlist, in bit/s."""
    sizes = [e.size for e in entries]
    durations = [e.duration_s for e in entries]
    total_s = sum(durations)
    peak = math.ceil(peak_bitrate(sizes, durations, _target_duration(entries)))
    average = math.ceil(sum(sizes) * 8 / total_s) if total_s > 0 else 0
    return peak, average


def _report(
    rendition: Rendition,
    chunks: Sequence[PartOutput],
    order: list[int],
    entries: list[_Entry],
    audio_bitrates: tuple[int, int],  # (0, 0) without audio
) -> RenditionReport:
    peak, average = _bitrates(entries)
    audio_peak, audio_average = audio_bitrates
    codecs: list[str] = []
    for position in order:
        track = chunks[position].track(rendition.name)
        if track is not None and track.codecs not in codecs:
            codecs.append(track.codecs)
    if audio_peak:
        codecs.append(AAC_LC_CODEC)
    return RenditionReport(
        name=rendition.name,
        width=rendition.width,
        height=rendition.height,
        fps=rendition.fps,
        playlist=f"{rendition.name}/{MEDIA_PLAYLIST}",
        duration_s=sum(e.duration_s for e in entries),
        segment_count=len(entries),
        # A variant plays its video with the audio rendition: RFC 8216 4.3.4.2 wants the
        # largest sum of the peak rates of any playable combination.
        peak_bps=peak + audio_peak,
        average_bps=average + audio_average,
        codecs=",".join(codecs),
    )


def stitched_master_text(reports: Sequence[RenditionReport], *, with_audio: bool) -> bytes:
    """The master playlist: the variants, highest first, sharing one audio rendition."""
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{FMP4_MIN_VERSION}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if with_audio:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="audio",DEFAULT=YES,'
            f'AUTOSELECT=YES,CHANNELS="2",URI="{AUDIO_NAME}/{MEDIA_PLAYLIST}"'
        )
    for report in reports:
        attributes = [
            f"BANDWIDTH={max(report.peak_bps, report.average_bps)}",
            f"AVERAGE-BANDWIDTH={report.average_bps}",
            f"RESOLUTION={report.width}x{report.height}",
            f'CODECS="{report.codecs}"',
            f"FRAME-RATE={report.fps:.3f}",
        ]
        if with_audio:
            attributes.append(f'AUDIO="{AUDIO_GROUP}"')
        lines += [f"#EXT-X-STREAM-INF:{','.join(attributes)}", report.playlist]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _images(chunks: Sequence[PartOutput], order: list[int]) -> list[tuple[int, str, str]]:
    """poster.jpg and thumbnail.jpg from the first chunk that made them."""
    for position in order:
        part = chunks[position]
        if part.poster is not None and part.thumbnail is not None:
            return [
                (position, part.poster, POSTER_NAME),
                (position, part.thumbnail, THUMBNAIL_NAME),
            ]
    return []
