"""End to end with real ffmpeg: probe, plan, transcode, validate, master rewrite, posters."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.clips import make_clip
from vodforge.domain.ladder import Rendition, plan_ladder
from vodforge.domain.limits import InputLimits
from vodforge.errors import ErrorCode, RetryableError
from vodforge.media.ffmpeg import find_ffmpeg
from vodforge.media.hls import parse_master_playlist, parse_media_playlist, validate_package
from vodforge.media.probe import probe_source
from vodforge.media.probe_header import ProbeResult
from vodforge.media.progress import Progress
from vodforge.media.transcode import TranscodeResult, make_poster, run_transcode
from vodforge.process import StopToken

pytestmark = pytest.mark.slow


@dataclass
class Encoded:
    probe: ProbeResult
    ladder: tuple[Rendition, ...]
    result: TranscodeResult
    progress: list[Progress]
    poster: Path
    thumbnail: Path


def encode(workdir: Path, **clip: object) -> Encoded:
    source = make_clip(workdir / "source.mp4", **clip)  # type: ignore[arg-type]
    ffmpeg = find_ffmpeg()
    probe = probe_source(source, InputLimits(), ffmpeg)
    ladder = plan_ladder(probe.width, probe.height, probe.fps, probe.has_audio)
    progress: list[Progress] = []
    out = workdir / "out"
    result = run_transcode(
        ffmpeg,
        source,
        probe,
        ladder,
        out,
        stop=StopToken(),
        on_progress=progress.append,
        with_poster=True,
    )
    assert result.poster is not None and result.thumbnail is not None
    return Encoded(probe, ladder, result, progress, result.poster, result.thumbnail)


@pytest.fixture(scope="module")
def hd(tmp_path_factory: pytest.TempPathFactory) -> Encoded:
    workdir = tmp_path_factory.mktemp("hd")
    return encode(workdir, width=1280, height=720, fps=30, duration_s=4)


def jpeg_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:3] == b"\xff\xd8\xff", f"{path.name} is not a JPEG"
    at = 2
    while at < len(data):
        marker, length = data[at + 1], int.from_bytes(data[at + 2 : at + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            return int.from_bytes(data[at + 7 : at + 9], "big"), height
        at += 2 + length
    raise AssertionError("no JPEG frame header")


def master_variants(out: Path) -> list[dict[str, str]]:
    text = (out / "master.m3u8").read_text()
    master = parse_master_playlist(text)
    assert master.version is not None and master.version >= 7
    assert master.independent_segments
    return [dict(v.attributes, URI=v.uri) for v in master.variants]


def test_hd_clip_becomes_a_three_rung_package(hd: Encoded) -> None:
    out = hd.result.out_dir
    assert [(r.name, r.width, r.height) for r in hd.ladder] == [
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
    ]
    variants = master_variants(out)
    assert [v["URI"] for v in variants] == ["720p/index.m3u8", "480p/index.m3u8", "360p/index.m3u8"]
    for variant, rendition, report in zip(
        variants, hd.ladder, hd.result.package.renditions, strict=True
    ):
        assert variant["RESOLUTION"] == f"{rendition.width}x{rendition.height}"
        assert variant["FRAME-RATE"] == "30.000"
        assert variant["CODECS"].startswith("avc1.64") and variant["CODECS"].endswith(",mp4a.40.2")
        assert int(variant["BANDWIDTH"]) >= report.peak_bps >= int(variant["AVERAGE-BANDWIDTH"]) > 0
    # Higher rungs cost more bits.
    bandwidths = [int(v["AVERAGE-BANDWIDTH"]) for v in variants]
    assert bandwidths == sorted(bandwidths, reverse=True)
    package = hd.result.package
    assert package.duration_s == pytest.approx(4.0, abs=0.25)
    assert package.segment_count == 1  # 4 s of video in 4 s segments
    assert {r.segment_count for r in package.renditions} == {1}


def test_hd_progress_reaches_the_end(hd: Encoded) -> None:
    assert hd.progress, "progress was reported"
    assert hd.progress[-1].done and hd.progress[-1].percent == 100.0
    percents = [p.percent for p in hd.progress]
    assert percents == sorted(percents)


def test_hd_poster_and_thumbnail(hd: Encoded, tmp_path: Path) -> None:
    assert jpeg_size(hd.poster) == (1280, 720)
    assert jpeg_size(hd.thumbnail) == (320, 180)
    assert hd.poster.parent == hd.thumbnail.parent == hd.result.out_dir
    # The transcode pass picked the very frame a separate seek-and-decode picks.
    source = hd.result.out_dir.parent / "source.mp4"
    poster, thumbnail = make_poster(find_ffmpeg(), source, hd.probe, hd.ladder[0], tmp_path)
    assert poster.read_bytes() == hd.poster.read_bytes()
    assert thumbnail.read_bytes() == hd.thumbnail.read_bytes()
    assert not list(hd.result.out_dir.rglob("*.tmp")), "no temporary file is left behind"


def test_validation_opens_no_segment(hd: Encoded, tmp_path: Path) -> None:
    """Segments are only stat'ed: reading them whole would cost as much as the upload."""
    out = tampered(hd, tmp_path)
    opened: list[str] = []
    watching = [True]

    def audit(event: str, args: tuple[object, ...]) -> None:
        if event == "open" and watching[0] and isinstance(args[0], str | Path):
            opened.append(str(args[0]))

    sys.addaudithook(audit)  # hooks cannot be removed: this one goes quiet instead
    try:
        validate_package(out, hd.probe.duration_s, hd.ladder)
    finally:
        watching[0] = False
    names = sorted(Path(path).relative_to(out).as_posix() for path in opened)
    assert names == sorted(
        ["master.m3u8", "master.m3u8.tmp"]
        + [f"{r.name}/index.m3u8" for r in hd.ladder]
        + [f"{r.name}/init_{i}.mp4" for i, r in enumerate(hd.ladder)]
    )


def test_a_missing_poster_fails_the_transcode_as_output_invalid(tmp_path: Path) -> None:
    """ffmpeg exiting 0 without the images (say the poster's frame never came) is our fault."""
    script = tmp_path / "ffmpeg-no-poster"
    script.write_text(
        f'#!/bin/sh\n"{find_ffmpeg()}" "$@" || exit $?\nrm -f "{tmp_path}/out/poster.jpg"\n'
    )
    script.chmod(0o755)
    source = make_clip(tmp_path / "s.mp4", width=160, height=90, fps=30, duration_s=1)
    probe = probe_source(source, InputLimits(), find_ffmpeg())
    ladder = plan_ladder(probe.width, probe.height, probe.fps, probe.has_audio)
    with pytest.raises(RetryableError, match=r"poster\.jpg was not written") as caught:
        run_transcode(
            str(script), source, probe, ladder, tmp_path / "out",
            stop=StopToken(), on_progress=lambda _: None, with_poster=True,
        )  # fmt: skip
    assert caught.value.code is ErrorCode.OUTPUT_INVALID


def test_keyframes_align_into_equal_segments(tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("long")
    encoded = encode(workdir, width=480, height=270, fps=25, duration_s=9, audio=False)
    out = encoded.result.out_dir
    durations = []
    for rendition in encoded.ladder:
        playlist = parse_media_playlist((out / rendition.name / "index.m3u8").read_text())
        durations.append([round(s.duration_s, 2) for s in playlist.segments])
    assert durations[0] == [4.0, 4.0, 1.0]
    assert all(d == durations[0] for d in durations)
    assert all("mp4a" not in v["CODECS"] for v in master_variants(out))


def test_silent_ten_bit_120fps_tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("tiny")
    encoded = encode(
        workdir, width=96, height=64, fps=120, duration_s=2, audio=False, pix_fmt="yuv420p10le"
    )
    assert encoded.probe.bit_depth == 10 and encoded.probe.fps == 120.0
    assert [(r.name, r.width, r.height, r.fps) for r in encoded.ladder] == [("64p", 96, 64, 60.0)]
    (variant,) = master_variants(encoded.result.out_dir)
    assert variant["RESOLUTION"] == "96x64" and variant["FRAME-RATE"] == "60.000"
    # 8-bit High profile, not High 10: playable everywhere.
    assert variant["CODECS"].startswith("avc1.64") and "mp4a" not in variant["CODECS"]
    assert jpeg_size(encoded.thumbnail) == (96, 64)


def test_rotated_portrait_is_encoded_upright(tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("portrait")
    encoded = encode(workdir, width=640, height=360, fps=30, duration_s=2, rotate=90)
    assert (encoded.probe.width, encoded.probe.height, encoded.probe.rotation) == (360, 640, 90)
    assert [(r.name, r.width, r.height) for r in encoded.ladder] == [("360p", 360, 640)]
    out = encoded.result.out_dir
    # Glue init + first segment into one fragmented MP4 and probe it like an upload: the
    # pixels must be stored upright, with no rotation left for a player to apply again.
    playlist = parse_media_playlist((out / "360p" / "index.m3u8").read_text())
    assert playlist.map_uri is not None
    glued = workdir / "glued.mp4"
    glued.write_bytes(
        (out / "360p" / playlist.map_uri).read_bytes()
        + (out / "360p" / playlist.segments[0].uri).read_bytes()
    )
    again = probe_source(glued, InputLimits(), find_ffmpeg())
    assert (again.coded_width, again.coded_height, again.rotation) == (360, 640, 0)
    assert jpeg_size(encoded.poster) == (360, 640)


def tampered(hd: Encoded, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(hd.result.out_dir, copy)
    return copy


@pytest.mark.parametrize(
    "damage",
    ["missing segment", "no endlist", "wrong duration", "missing rendition", "empty init"],
)
def test_validation_catches_damage(hd: Encoded, tmp_path: Path, damage: str) -> None:
    out = tampered(hd, tmp_path)
    duration = hd.probe.duration_s
    playlist = out / "480p" / "index.m3u8"
    if damage == "missing segment":
        (out / "480p" / "seg_00000.m4s").unlink()
    elif damage == "no endlist":
        playlist.write_text(playlist.read_text().replace("#EXT-X-ENDLIST", ""))
    elif damage == "wrong duration":
        duration += 1.0
    elif damage == "missing rendition":
        shutil.rmtree(out / "360p")
    elif damage == "empty init":
        (out / "480p" / "init_1.mp4").write_bytes(b"")
    with pytest.raises(RetryableError) as caught:
        validate_package(out, duration, hd.ladder)
    assert caught.value.code is ErrorCode.OUTPUT_INVALID


def test_validation_catches_misaligned_renditions(hd: Encoded, tmp_path: Path) -> None:
    out = tampered(hd, tmp_path)
    validate_package(out, hd.probe.duration_s, hd.ladder)  # the copy itself is valid
    playlist = out / "360p" / "index.m3u8"
    text = playlist.read_text()
    playlist.write_text(text.replace("#EXTINF:4.000000,", "#EXTINF:3.900000,"))
    with pytest.raises(RetryableError, match="aligned"):
        validate_package(out, hd.probe.duration_s, hd.ladder)


def test_output_directory_must_be_fresh(hd: Encoded) -> None:
    with pytest.raises(ValueError, match="not empty"):
        run_transcode(
            find_ffmpeg(), hd.result.out_dir / "x", hd.probe, hd.ladder, hd.result.out_dir,
            stop=StopToken(), on_progress=lambda _: None,
        )  # fmt: skip
