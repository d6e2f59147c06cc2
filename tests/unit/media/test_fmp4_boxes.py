"""The fMP4 readers over hand-built boxes: every place a sample's duration and flags may come
from (trun, tfhd defaults, trex defaults), and malformed input. Real ffmpeg output is read in
tests/integration/media/test_chunked_media.py."""

from __future__ import annotations

import pytest

from vodforge.media.fmp4 import Fmp4Error, iter_boxes, read_init, read_segment

NON_SYNC = 0x0001_0000
SYNC = 0x0200_0000  # sample_depends_on = 2 (an I-frame), sync


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def full(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3, "big"), *payload)


def u32(*values: int) -> bytes:
    return b"".join(v.to_bytes(4, "big") for v in values)


def init(timescale: int = 30000, *, trex_duration: int = 0, trex_flags: int = 0) -> bytes:
    tkhd = full(b"tkhd", 0, 3, u32(0, 0, 1, 0), bytes(64))
    mdhd = full(b"mdhd", 0, 0, u32(0, 0, timescale, 0), bytes(4))
    hdlr = full(b"hdlr", 0, 0, u32(0), b"vide", bytes(12), b"VideoHandler\x00")
    stsd = full(b"stsd", 0, 0, u32(1), box(b"avc1", bytes(78)))
    stbl = box(b"stbl", stsd)
    trak = box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, box(b"minf", stbl)))
    trex = full(b"trex", 0, 0, u32(1, 1, trex_duration, 0, trex_flags))
    return box(b"ftyp", b"iso5", u32(512)) + box(b"moov", trak, box(b"mvex", trex))


def fragment(
    base: int,
    samples: list[tuple[int | None, int | None]],  # (duration, flags) per sample
    *,
    tfhd_duration: int | None = None,
    tfhd_flags: int | None = None,
    first_flags: int | None = None,
    version: int = 1,
) -> bytes:
    flags, fields = 0x020000, b""
    if tfhd_duration is not None:
        flags |= 0x08
        fields += u32(tfhd_duration)
    if tfhd_flags is not None:
        flags |= 0x20
        fields += u32(tfhd_flags)
    tfhd = full(b"tfhd", 0, flags, u32(1), fields)
    decode = base.to_bytes(8 if version else 4, "big")
    tfdt = full(b"tfdt", version, 0, decode)
    trun_flags = 0x001
    with_duration = samples and samples[0][0] is not None
    with_flags = samples and samples[0][1] is not None
    trun_flags |= 0x100 if with_duration else 0
    trun_flags |= 0x400 if with_flags else 0
    trun_flags |= 0x004 if first_flags is not None else 0
    body = u32(len(samples), 0) + (u32(first_flags) if first_flags is not None else b"")
    for duration, sample_flags in samples:
        body += u32(duration) if duration is not None else b""
        body += u32(sample_flags) if sample_flags is not None else b""
    trun = full(b"trun", 0, trun_flags, body)
    moof = box(b"moof", full(b"mfhd", 0, 0, u32(1)), box(b"traf", tfhd, tfdt, trun))
    return box(b"styp", b"msdh") + moof + box(b"mdat", b"\x00" * 16)


def test_init_reads_the_track() -> None:
    (track,) = read_init(init(15360, trex_duration=512, trex_flags=NON_SYNC))
    assert (track.track_id, track.handler, track.sample_entry) == (1, "vide", "avc1")
    assert (track.timescale, track.default_duration, track.default_flags) == (15360, 512, NON_SYNC)


def test_durations_and_flags_from_the_trun() -> None:
    tracks = read_init(init())
    data = fragment(240240, [(1001, SYNC), (1001, NON_SYNC), (1002, NON_SYNC)])
    run = read_segment(data, tracks)[1]
    assert (run.base_decode_time, run.duration, run.samples, run.first_is_sync) == (
        240240,
        3004,
        3,
        True,
    )
    assert run.end == 243244


def test_first_sample_flags_override_and_a_non_sync_start_is_seen() -> None:
    tracks = read_init(init())
    data = fragment(0, [(1001, NON_SYNC)] * 2, first_flags=SYNC)
    assert read_segment(data, tracks)[1].first_is_sync
    assert not read_segment(fragment(0, [(1001, NON_SYNC)] * 2), tracks)[1].first_is_sync


def test_tfhd_defaults_then_trex_defaults() -> None:
    tracks = read_init(init(trex_duration=7, trex_flags=NON_SYNC))
    from_tfhd = fragment(5, [(None, None)] * 4, tfhd_duration=1001, tfhd_flags=SYNC, version=0)
    run = read_segment(from_tfhd, tracks)[1]
    assert (run.base_decode_time, run.duration, run.first_is_sync) == (5, 4004, True)
    from_trex = read_segment(fragment(0, [(None, None)] * 3), tracks)[1]
    assert (from_trex.duration, from_trex.first_is_sync) == (21, False)


def test_two_fragments_in_one_segment_add_up_from_the_first_tfdt() -> None:
    tracks = read_init(init())
    data = fragment(1000, [(10, SYNC)] * 2) + fragment(1020, [(10, NON_SYNC)] * 3)
    run = read_segment(data, tracks)[1]
    assert (run.base_decode_time, run.duration, run.samples, run.first_is_sync) == (
        1000,
        50,
        5,
        True,
    )


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00\x00\x10moov",  # a box longer than the data
        b"\x00\x00\x00\x04ftyp",  # shorter than its own header
    ],
)
def test_malformed_boxes_are_refused(data: bytes) -> None:
    with pytest.raises(Fmp4Error, match="malformed"):
        list(iter_boxes(data))


def test_wrong_kinds_of_data_are_refused() -> None:
    with pytest.raises(Fmp4Error, match="no moov"):
        read_init(box(b"ftyp", b"iso5"))
    with pytest.raises(Fmp4Error, match="no moof"):
        read_segment(box(b"mdat", b"x"), read_init(init()))
    other = read_init(init())[0].__class__(9, "vide", "avc1", 30000, 0, 0)
    with pytest.raises(Fmp4Error, match="track 1, which the init segment does not have"):
        read_segment(fragment(0, [(1, SYNC)]), (other,))
