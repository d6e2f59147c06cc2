"""Playlist parsing, the RFC 8216 peak bit rate, init segment facts and the master text."""

from __future__ import annotations

import pytest

from vodforge.media.hls import (
    PlaylistError,
    RenditionReport,
    init_segment_facts,
    master_text,
    parse_attributes,
    parse_master_playlist,
    parse_media_playlist,
    peak_bitrate,
)

MEDIA = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init_0.mp4"
#EXTINF:4.000000,
seg_00000.m4s
#EXTINF:1.500000,
seg_00001.m4s
#EXT-X-ENDLIST
"""


def test_media_playlist() -> None:
    playlist = parse_media_playlist(MEDIA)
    assert playlist.version == 7 and playlist.target_duration == 4
    assert playlist.playlist_type == "VOD" and playlist.independent_segments
    assert playlist.map_uri == "init_0.mp4" and playlist.endlist
    assert [(s.uri, s.duration_s) for s in playlist.segments] == [
        ("seg_00000.m4s", 4.0),
        ("seg_00001.m4s", 1.5),
    ]
    assert playlist.duration_s == 5.5


def test_byteranges_chain_offsets() -> None:
    text = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n#EXT-X-BYTERANGE:100@0\nall.mp4\n"
        "#EXTINF:4,\n#EXT-X-BYTERANGE:50\nall.mp4\n"
    )
    playlist = parse_media_playlist(text)
    assert [s.byterange for s in playlist.segments] == [(100, 0), (50, 100)]
    assert not playlist.endlist


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a playlist",
        "#EXTM3U\n#EXTINF:4,\nseg.m4s\n",  # no target duration
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\nseg.m4s\n",  # no EXTINF
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:abc,\nseg.m4s\n",
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\n",  # dangling EXTINF
        '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:BYTERANGE="1@0"\n',
    ],
)
def test_malformed_media_playlists(text: str) -> None:
    with pytest.raises(PlaylistError):
        parse_media_playlist(text)


def test_master_playlist_and_quoted_attributes() -> None:
    text = (
        '#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=100,CODECS="avc1.64001f,'
        'mp4a.40.2",RESOLUTION=2x2\na/index.m3u8\n'
    )
    master = parse_master_playlist(text)
    assert master.version == 7 and not master.independent_segments
    assert master.variants[0].uri == "a/index.m3u8"
    assert master.variants[0].attributes == {
        "BANDWIDTH": "100",
        "CODECS": "avc1.64001f,mp4a.40.2",
        "RESOLUTION": "2x2",
    }
    assert parse_attributes('URI="x,y",N=1') == {"URI": "x,y", "N": "1"}
    with pytest.raises(PlaylistError):
        parse_master_playlist(MEDIA)
    with pytest.raises(PlaylistError):
        parse_master_playlist("#EXTM3U\n#EXT-X-VERSION:7\n")


def test_peak_bitrate_uses_windows_of_half_to_one_and_a_half_targets() -> None:
    # A 0.1 s tail segment alone is shorter than half the target, so it cannot be the peak.
    sizes, durations = [1_000_000, 1_000_000, 400_000], [4.0, 4.0, 0.1]
    assert peak_bitrate(sizes, durations, 4.0) == pytest.approx((1_000_000 + 400_000) * 8 / 4.1)
    assert peak_bitrate([500, 3000], [2.0, 2.0], 4.0) == pytest.approx(12000.0)
    # Shorter than half a target in total: the whole-playlist rate.
    assert peak_bitrate([1000], [1.0], 4.0) == pytest.approx(8000.0)


def box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def fake_init(*, audio: bool) -> bytes:
    avcc = box(b"avcC", bytes([1, 0x64, 0x00, 0x1F, 0xFF]))
    avc1 = box(b"avc1", bytes(24) + (1280).to_bytes(2, "big") + (720).to_bytes(2, "big")
               + bytes(50) + avcc)  # fmt: skip
    entries = [avc1] + ([box(b"mp4a", bytes(28))] if audio else [])
    stsd = box(b"stsd", bytes(4) + len(entries).to_bytes(4, "big") + b"".join(entries))
    trak = box(b"trak", box(b"mdia", box(b"minf", box(b"stbl", stsd))))
    # "avc1" also appears as a brand in ftyp; the parser must not be fooled by it.
    return box(b"ftyp", b"isom\x00\x00\x02\x00isomavc1") + box(b"moov", trak)


def test_init_segment_facts() -> None:
    assert init_segment_facts(fake_init(audio=True)) == ("avc1.64001f", 1280, 720, True)
    assert init_segment_facts(fake_init(audio=False))[3] is False
    with pytest.raises(PlaylistError):
        init_segment_facts(box(b"ftyp", b"isomavc1avcC1234"))
    with pytest.raises(PlaylistError):
        init_segment_facts(fake_init(audio=True)[:-7])  # cut short: a box overruns


def test_master_text_carries_every_attribute() -> None:
    report = RenditionReport(
        name="720p", width=1280, height=720, fps=29.97, playlist="720p/index.m3u8",
        duration_s=10.0, segment_count=3, peak_bps=2_500_001, average_bps=1_800_000,
        codecs="avc1.64001f,mp4a.40.2",
    )  # fmt: skip
    assert master_text([report]) == (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=2500001,AVERAGE-BANDWIDTH=1800000,RESOLUTION=1280x720,"
        'CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=29.970\n720p/index.m3u8\n'
    )
