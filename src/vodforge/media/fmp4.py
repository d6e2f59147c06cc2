"""Reads the timing facts of fragmented MP4 (ISO BMFF) segments that our ffmpeg wrote.

Pure functions over bytes: an init segment's tracks (timescale, trex defaults) and, per
track of a media segment, the tfdt decode time, the summed sample durations, the sample
count and whether the first sample is a sync sample (a keyframe). Enough to check that
segments written by separate processes join into one continuous timeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# ISO/IEC 14496-12 sample flags: bit 16 is sample_is_non_sync_sample.
NON_SYNC_SAMPLE = 0x0001_0000
_TFHD_BASE_DATA_OFFSET = 0x01
_TFHD_SAMPLE_DESCRIPTION = 0x02
_TFHD_DEFAULT_DURATION = 0x08
_TFHD_DEFAULT_SIZE = 0x10
_TFHD_DEFAULT_FLAGS = 0x20
_TRUN_DATA_OFFSET = 0x001
_TRUN_FIRST_FLAGS = 0x004
_TRUN_DURATION = 0x100
_TRUN_SIZE = 0x200
_TRUN_FLAGS = 0x400
_TRUN_COMPOSITION = 0x800


class Fmp4Error(ValueError):
    """The bytes are not the fragmented MP4 we expect."""


@dataclass(frozen=True)
class InitTrack:
    """One track of an init segment (moov/trak + its mvex/trex defaults)."""

    track_id: int
    handler: str  # "vide", "soun", ...
    sample_entry: str  # the first sample description's type: "avc1", "mp4a", ...
    timescale: int
    default_duration: int
    default_flags: int


@dataclass(frozen=True)
class TrackRun:
    """One track's samples in one media segment (all its moof boxes together)."""

    track_id: int
    base_decode_time: int  # tfdt of the first fragment, in the track's timescale
    duration: int  # the sum of every sample's duration, same units
    samples: int
    first_is_sync: bool

    @property
    def end(self) -> int:
        return self.base_decode_time + self.duration


def iter_boxes(
    data: bytes, start: int = 0, end: int | None = None, *, what: str = "fMP4 data"
) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) for each ISO BMFF box in data[start:end]."""
    stop = len(data) if end is None else end
    at = start
    while at + 8 <= stop:
        size = int.from_bytes(data[at : at + 4], "big")
        kind, header = data[at + 4 : at + 8], 8
        if size == 1:
            size, header = int.from_bytes(data[at + 8 : at + 16], "big"), 16
        elif size == 0:
            size = stop - at
        if size < header or at + size > stop:
            raise Fmp4Error(f"malformed {kind!r} box in {what}")
        yield kind, at + header, at + size
        at += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for child, payload, box_end in iter_boxes(data, start, end):
        if child == kind:
            return payload, box_end
    return None


def _u32(data: bytes, at: int) -> int:
    if at + 4 > len(data):
        raise Fmp4Error("box ends inside a field")
    return int.from_bytes(data[at : at + 4], "big")


def _u64(data: bytes, at: int) -> int:
    if at + 8 > len(data):
        raise Fmp4Error("box ends inside a field")
    return int.from_bytes(data[at : at + 8], "big")


def _full_box(data: bytes, at: int) -> tuple[int, int]:
    """(version, flags) of a full box whose payload starts at `at`."""
    header = _u32(data, at)
    return header >> 24, header & 0xFF_FFFF


def read_init(data: bytes) -> tuple[InitTrack, ...]:
    """The tracks of an init segment (ftyp + moov), in file order."""
    moov = _child(data, 0, len(data), b"moov")
    if moov is None:
        raise Fmp4Error("init segment has no moov box")
    defaults: dict[int, tuple[int, int]] = {}
    mvex = _child(data, *moov, b"mvex")
    if mvex is not None:
        for kind, payload, _ in iter_boxes(data, *mvex):
            if kind == b"trex":
                # version/flags, track_ID, description index, duration, size, flags
                defaults[_u32(data, payload + 4)] = (
                    _u32(data, payload + 12),
                    _u32(data, payload + 20),
                )
    tracks: list[InitTrack] = []
    for kind, payload, box_end in iter_boxes(data, *moov):
        if kind == b"trak":
            tracks.append(_read_trak(data, payload, box_end, defaults))
    if not tracks:
        raise Fmp4Error("init segment has no track")
    return tuple(tracks)


def _read_trak(
    data: bytes, start: int, end: int, defaults: dict[int, tuple[int, int]]
) -> InitTrack:
    tkhd = _child(data, start, end, b"tkhd")
    mdia = _child(data, start, end, b"mdia")
    if tkhd is None or mdia is None:
        raise Fmp4Error("trak without tkhd or mdia")
    version, _ = _full_box(data, tkhd[0])
    # tkhd: version/flags, creation and modification times (4 or 8 bytes each), track_ID.
    track_id = _u32(data, tkhd[0] + (20 if version == 1 else 12))
    mdhd = _child(data, *mdia, b"mdhd")
    hdlr = _child(data, *mdia, b"hdlr")
    if mdhd is None or hdlr is None:
        raise Fmp4Error(f"track {track_id} has no mdhd or hdlr")
    version, _ = _full_box(data, mdhd[0])
    timescale = _u32(data, mdhd[0] + (20 if version == 1 else 12))
    if timescale <= 0:
        raise Fmp4Error(f"track {track_id} has timescale 0")
    handler = data[hdlr[0] + 8 : hdlr[0] + 12].decode("latin-1")
    duration, flags = defaults.get(track_id, (0, 0))
    return InitTrack(track_id, handler, _sample_entry(data, *mdia), timescale, duration, flags)


def _sample_entry(data: bytes, start: int, end: int) -> str:
    stsd = _descend(data, start, end, (b"minf", b"stbl", b"stsd"))
    if stsd is None:
        return ""
    # stsd: version/flags, entry count, then the sample entries as boxes.
    for kind, _, _ in iter_boxes(data, stsd[0] + 8, stsd[1]):
        return kind.decode("latin-1")
    return ""


def _descend(data: bytes, start: int, end: int, path: tuple[bytes, ...]) -> tuple[int, int] | None:
    found: tuple[int, int] | None = (start, end)
    for kind in path:
        if found is None:
            return None
        found = _child(data, *found, kind)
    return found


@dataclass
class _Run:
    base: int
    duration: int = 0
    samples: int = 0
    first_is_sync: bool | None = None


def read_segment(data: bytes, init: tuple[InitTrack, ...]) -> dict[int, TrackRun]:
    """Per track_ID, the timing of a media segment's samples (every moof in it)."""
    by_id = {track.track_id: track for track in init}
    runs: dict[int, _Run] = {}
    for kind, payload, box_end in iter_boxes(data):
        if kind != b"moof":
            continue
        for child, child_payload, child_end in iter_boxes(data, payload, box_end):
            if child == b"traf":
                _read_traf(data, child_payload, child_end, by_id, runs)
    if not runs:
        raise Fmp4Error("media segment has no moof/traf")
    return {
        track_id: TrackRun(track_id, run.base, run.duration, run.samples, bool(run.first_is_sync))
        for track_id, run in runs.items()
    }


def _read_traf(
    data: bytes,
    start: int,
    end: int,
    by_id: dict[int, InitTrack],
    runs: dict[int, _Run],
) -> None:
    tfhd = _child(data, start, end, b"tfhd")
    if tfhd is None:
        raise Fmp4Error("traf without tfhd")
    _, tf_flags = _full_box(data, tfhd[0])
    track_id = _u32(data, tfhd[0] + 4)
    track = by_id.get(track_id)
    if track is None:
        raise Fmp4Error(f"fragment of track {track_id}, which the init segment does not have")
    at = tfhd[0] + 8
    at += 8 if tf_flags & _TFHD_BASE_DATA_OFFSET else 0
    at += 4 if tf_flags & _TFHD_SAMPLE_DESCRIPTION else 0
    default_duration, default_flags = track.default_duration, track.default_flags
    if tf_flags & _TFHD_DEFAULT_DURATION:
        default_duration = _u32(data, at)
        at += 4
    at += 4 if tf_flags & _TFHD_DEFAULT_SIZE else 0
    if tf_flags & _TFHD_DEFAULT_FLAGS:
        default_flags = _u32(data, at)
    tfdt = _child(data, start, end, b"tfdt")
    run = runs.get(track_id)
    if run is None:
        if tfdt is None:
            raise Fmp4Error(f"first fragment of track {track_id} has no tfdt")
        version, _ = _full_box(data, tfdt[0])
        base = _u64(data, tfdt[0] + 4) if version == 1 else _u32(data, tfdt[0] + 4)
        run = runs[track_id] = _Run(base)
    for kind, payload, _ in iter_boxes(data, start, end):
        if kind == b"trun":
            _read_trun(data, payload, run, default_duration, default_flags)


def _read_trun(data: bytes, at: int, run: _Run, default_duration: int, default_flags: int) -> None:
    _, flags = _full_box(data, at)
    count = _u32(data, at + 4)
    at += 8
    at += 4 if flags & _TRUN_DATA_OFFSET else 0
    first_flags: int | None = None
    if flags & _TRUN_FIRST_FLAGS:
        first_flags = _u32(data, at)
        at += 4
    for index in range(count):
        duration = default_duration
        sample_flags = default_flags
        if flags & _TRUN_DURATION:
            duration = _u32(data, at)
            at += 4
        at += 4 if flags & _TRUN_SIZE else 0
        if flags & _TRUN_FLAGS:
            sample_flags = _u32(data, at)
            at += 4
        at += 4 if flags & _TRUN_COMPOSITION else 0
        if index == 0 and first_flags is not None:
            sample_flags = first_flags
        if run.first_is_sync is None:
            run.first_is_sync = not sample_flags & NON_SYNC_SAMPLE
        run.duration += duration
        run.samples += 1
