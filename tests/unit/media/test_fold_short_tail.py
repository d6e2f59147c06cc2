"""The audio job's sliver of a last segment is folded into the one before it (hls.js never
ends a stream whose last segment is a single AAC frame)."""

from __future__ import annotations

from pathlib import Path

from vodforge.media.hls import parse_media_playlist
from vodforge.media.parts import fold_short_tail

PLAYLIST = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.010667,
seg_00000.m4s
#EXTINF:3.989333,
seg_00001.m4s
#EXTINF:{tail},
seg_00002.m4s
#EXT-X-ENDLIST
"""


def _track(tmp_path: Path, tail: str) -> Path:
    for index, body in enumerate((b"first", b"second", b"tail")):
        (tmp_path / f"seg_{index:05d}.m4s").write_bytes(body)
    (tmp_path / "index.m3u8").write_text(PLAYLIST.format(tail=tail))
    return tmp_path


def test_a_sliver_joins_the_segment_before_it(tmp_path: Path) -> None:
    track = _track(tmp_path, "0.021333")
    fold_short_tail(track)
    playlist = parse_media_playlist((track / "index.m3u8").read_text())
    assert [(s.uri, round(s.duration_s, 6)) for s in playlist.segments] == [
        ("seg_00000.m4s", 4.010667),
        ("seg_00001.m4s", 4.010666),
    ]
    assert playlist.endlist
    assert (track / "seg_00001.m4s").read_bytes() == b"secondtail"
    assert not (track / "seg_00002.m4s").exists()


def test_a_real_last_segment_stays(tmp_path: Path) -> None:
    track = _track(tmp_path, "1.500000")
    before = (track / "index.m3u8").read_text()
    fold_short_tail(track)
    assert (track / "index.m3u8").read_text() == before
    assert (track / "seg_00002.m4s").read_bytes() == b"tail"
