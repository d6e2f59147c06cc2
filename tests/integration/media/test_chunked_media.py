"""Chunked encoding with real ffmpeg: every chunk and the audio encoded separately, stitched
by plan_stitch into a package that must equal the unchunked run_transcode package frame for
frame (same frames, same timestamps, same segment count and renditions, seamless at every
chunk boundary), read back with ffmpeg itself."""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.clips import make_clip, run_ffmpeg
from vodforge.domain.chunks import ChunkSpan, plan_chunks
from vodforge.domain.ladder import Rendition, Rung, plan_ladder
from vodforge.domain.limits import InputLimits
from vodforge.errors import ErrorCode, RetryableError
from vodforge.media.chunks import encode_audio, encode_chunk
from vodforge.media.commands import poster_time_s
from vodforge.media.ffmpeg import find_ffmpeg
from vodforge.media.fmp4 import read_init, read_segment
from vodforge.media.hls import (
    DURATION_TOLERANCE_S,
    parse_master_playlist,
    parse_media_playlist,
    validate_package,
)
from vodforge.media.parts import PartOutput
from vodforge.media.probe import probe_source
from vodforge.media.probe_header import ProbeResult
from vodforge.media.progress import Progress
from vodforge.media.stitch import StitchPlan, plan_stitch
from vodforge.media.transcode import TranscodeResult, run_transcode
from vodforge.process import StopToken

pytestmark = pytest.mark.slow

# Two small rungs keep every encode fast; sources are 320x180 (or the portrait turn).
RUNGS = (Rung(180, 400), Rung(144, 250))


@dataclass
class Encoded:
    source: Path
    probe: ProbeResult
    ladder: tuple[Rendition, ...]
    spans: tuple[ChunkSpan, ...]
    chunks: list[PartOutput]
    audio: PartOutput | None
    plan: StitchPlan
    package: Path
    unchunked: TranscodeResult
    progress: list[list[Progress]]


def make_source(
    path: Path,
    *,
    rate: str,
    duration_s: float,
    size: str = "320x180",
    bframes: int = 2,
    audio: bool = True,
) -> Path:
    """testsrc2 (every frame differs) with B-frames, and a sine tone."""
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:d={duration_s}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:d={duration_s}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-bf", str(bframes), "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "64k"]
    run_ffmpeg(*args, "-t", str(duration_s), str(path))
    return path


def materialise(plan: StitchPlan, part_dirs: list[Path], package: Path) -> None:
    """What the stitch job does with storage, on local files."""
    for index, inner, target in plan.copies:
        (package / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(part_dirs[index] / inner, package / target)
    for name, data in plan.files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_bytes(data)


def encode_both(
    workdir: Path, source: Path, *, chunk_s: float, rungs: tuple[Rung, ...] = RUNGS
) -> Encoded:
    ffmpeg = find_ffmpeg()
    probe = probe_source(source, InputLimits(), ffmpeg)
    ladder = plan_ladder(probe.width, probe.height, probe.fps, probe.has_audio, rungs=rungs)
    spans = plan_chunks(probe.duration_s, chunk_s=chunk_s, min_duration_s=1)
    assert len(spans) >= 2
    poster_at = poster_time_s(probe.duration_s)
    chunks, dirs, progress = [], [], []
    for span in spans:
        seen: list[Progress] = []
        out = workdir / f"chunk{span.index}"
        chunks.append(
            encode_chunk(
                ffmpeg, source, probe, ladder, span, out,
                stop=StopToken(), on_progress=seen.append,
                poster=span.start_s <= poster_at < span.end_s,
            )
        )  # fmt: skip
        dirs.append(out)
        progress.append(seen)
    audio = None
    if probe.has_audio:
        audio = encode_audio(
            ffmpeg, source, probe, workdir / "audio", stop=StopToken(), on_progress=lambda _: None
        )
        dirs.append(workdir / "audio")
    # Parts travel as JSON between jobs.
    chunks = [PartOutput.from_json(part.to_json()) for part in chunks]
    plan = plan_stitch(chunks, audio, ladder, probe.duration_s)
    package = workdir / "package"
    materialise(plan, dirs, package)
    unchunked = run_transcode(
        ffmpeg, source, probe, ladder, workdir / "unchunked",
        stop=StopToken(), on_progress=lambda _: None,
    )  # fmt: skip
    return Encoded(source, probe, ladder, spans, chunks, audio, plan, package, unchunked, progress)


@dataclass(frozen=True)
class Packet:
    dts: int
    pts: int
    duration: int
    key: bool


def streams(path: Path, *maps: str) -> list[tuple[int, list[Packet]]]:
    """Per mapped stream, (ticks per second, packets) as ffmpeg demuxes it: a playlist
    through the hls demuxer (our own output), or a source file."""
    argv = [find_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path)]
    for mapped in maps:
        argv += ["-map", mapped]
    done = subprocess.run(
        [*argv, "-c", "copy", "-f", "framecrc", "-"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert not done.stderr.strip(), done.stderr
    found: list[tuple[int, list[Packet]]] = []
    for index in range(len(maps)):
        match = re.search(rf"^#tb {index}: 1/(\d+)$", done.stdout, re.MULTILINE)
        assert match is not None, done.stdout[:500]
        found.append((int(match.group(1)), []))
    for line in done.stdout.splitlines():
        if line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        flags = next((f for f in fields[6:] if f.startswith("F=")), None)
        packet = Packet(int(fields[1]), int(fields[2]), int(fields[3]), flags is None)
        found[int(fields[0])][1].append(packet)
    return found


def packets(path: Path, mapped: str = "0:v:0") -> tuple[int, list[Packet]]:
    return streams(path, mapped)[0]


def min_psnr(
    playlist: Path, source: Path, rendition: Rendition, probe: ProbeResult, *, padded: int = 0
) -> float:
    """The worst frame's PSNR of the rendition against the source frame with the same
    index: a frame dropped or repeated anywhere shifts every later frame (tens of dB).
    padded: how many copies of its first frame the encode starts with."""
    rate = f"fps={rendition.fps}," if rendition.fps < probe.fps - 0.01 else ""
    if padded:
        rate = f"tpad=start={padded}:start_mode=clone,{rate}"
    graph = (
        f"[0:v]settb=1/1000,setpts=N[a];[1:v]{rate}scale={rendition.width}:{rendition.height},"
        f"format=yuv420p,settb=1/1000,setpts=N[b];[a][b]psnr=stats_file=-"
    )
    done = subprocess.run(
        [
            find_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error",
            "-i", str(playlist), "-i", str(source), "-lavfi", graph,
            "-fps_mode", "passthrough", "-f", "null", "-",
        ],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    values = [float(v) for v in re.findall(r"psnr_avg:([0-9.]+|inf)", done.stdout)]
    assert values, done.stdout[-500:]
    return min(values)


def frame_ticks(tb: int, rendition: Rendition) -> float:
    return tb / rendition.fps


# -- the checks every source must pass ----------------------------------------------------------


def check_package_matches_unchunked(encoded: Encoded) -> None:
    report, reference = encoded.plan.report, encoded.unchunked.package
    assert report.master == Path("master.m3u8")
    assert report.segment_count == reference.segment_count
    assert [(r.name, r.width, r.height) for r in report.renditions] == [
        (r.name, r.width, r.height) for r in reference.renditions
    ]
    frame = 1 / encoded.ladder[0].fps
    assert abs(report.duration_s - reference.duration_s) <= frame + 1e-6
    for rendition in encoded.ladder:
        stitched = parse_media_playlist(
            (encoded.package / rendition.name / "index.m3u8").read_text()
        )
        unchunked = parse_media_playlist(
            (encoded.unchunked.out_dir / rendition.name / "index.m3u8").read_text()
        )
        assert len(stitched.segments) == len(unchunked.segments)
        for mine, theirs in zip(stitched.segments, unchunked.segments, strict=True):
            assert abs(mine.duration_s - theirs.duration_s) <= 2 * frame + 1e-6
        # Every boundary within one frame of the unchunked one.
        for ends in itertools.accumulate(
            (
                m.duration_s - t.duration_s
                for m, t in zip(stitched.segments, unchunked.segments, strict=True)
            )
        ):
            assert abs(ends) <= frame + 1e-6


def check_frames_are_seamless(encoded: Encoded) -> None:
    keyframes_per_rendition = []
    for rendition in encoded.ladder:
        tb, stitched = packets(encoded.package / rendition.name / "index.m3u8")
        _, unchunked = packets(encoded.unchunked.out_dir / rendition.name / "index.m3u8")
        assert len(stitched) == len(unchunked), rendition.name
        # The very same presentation timestamps: no frame lost, repeated or moved. (From
        # the first frame: ffmpeg 5.1's hls demuxer starts a variant with AAC muxed in
        # where its audio starts, so the unchunked one begins a priming later.)
        first, reference = min(p.pts for p in stitched), min(p.pts for p in unchunked)
        assert [p.pts - first for p in stitched] == [p.pts - reference for p in unchunked]
        ordered = sorted(p.pts for p in stitched)
        step = frame_ticks(tb, rendition)
        for before, after in itertools.pairwise(ordered):
            assert 0 < after - before <= step + 1, (rendition.name, before, after)
        dts = [p.dts for p in stitched]
        assert all(b < a for b, a in itertools.pairwise(dts)), "decode order is increasing"
        keyframes = {p.pts for p in stitched if p.key}
        for span in encoded.spans[1:]:
            first = min(p for p in ordered if p >= span.start_s * tb - 1)
            assert first in keyframes, f"{rendition.name}: no keyframe at chunk {span.index}"
            assert first - span.start_s * tb < step + 1
        keyframes_per_rendition.append(keyframes)
    assert all(k == keyframes_per_rendition[0] for k in keyframes_per_rendition)


def check_source_frames(encoded: Encoded, expected_frames: int, *, padded: int = 0) -> None:
    for rendition in encoded.ladder:
        _, stitched = packets(encoded.package / rendition.name / "index.m3u8")
        assert len(stitched) == expected_frames, rendition.name
    top = encoded.ladder[0]
    playlist = encoded.package / top.name / "index.m3u8"
    assert min_psnr(playlist, encoded.source, top, encoded.probe, padded=padded) > 30


def check_chunk_timelines(encoded: Encoded) -> None:
    """Each chunk's first fragment starts exactly where the chunk before it ends."""
    for rendition in encoded.ladder:
        tracks = [chunk.track(rendition.name) for chunk in encoded.chunks]
        assert all(t is not None for t in tracks)
        for before, after in itertools.pairwise(tracks):
            assert before is not None and after is not None
            assert after.start == before.end
            assert after.init_sha256 == before.init_sha256  # one EXT-X-MAP for all chunks
    for seen in encoded.progress:
        assert seen and seen[-1].done and seen[-1].percent == 100.0
        assert [p.percent for p in seen] == sorted(p.percent for p in seen)


def check_validates_like_an_unchunked_package(encoded: Encoded, tmp: Path) -> None:
    """validate_package, the unchunked reference, on a copy (it rewrites master.m3u8); the
    video renditions carry no audio here (the audio is a rendition of its own)."""
    copy = tmp / "validated"
    shutil.copytree(encoded.package, copy)
    silent = [dataclasses.replace(r, audio=False) for r in encoded.ladder]
    validated = validate_package(copy, encoded.probe.duration_s, silent)
    assert validated.segment_count == encoded.plan.report.segment_count
    master = parse_master_playlist((encoded.package / "master.m3u8").read_text())
    assert master.version == 7 and master.independent_segments
    assert [v.uri for v in master.variants] == [f"{r.name}/index.m3u8" for r in encoded.ladder]
    for variant, rendition in zip(master.variants, encoded.ladder, strict=True):
        attributes = variant.attributes
        assert attributes["RESOLUTION"] == f"{rendition.width}x{rendition.height}"
        assert attributes["FRAME-RATE"] == f"{rendition.fps:.3f}"
        assert int(attributes["BANDWIDTH"]) >= int(attributes["AVERAGE-BANDWIDTH"]) > 0
        if encoded.audio is not None:
            assert attributes["AUDIO"] == "audio"
            assert attributes["CODECS"].endswith(",mp4a.40.2")
    for image in ("poster.jpg", "thumbnail.jpg"):
        assert (encoded.package / image).read_bytes()[:3] == b"\xff\xd8\xff"


def check_audio(encoded: Encoded, tmp: Path) -> None:
    assert encoded.audio is not None
    tb, audio = packets(encoded.package / "audio" / "index.m3u8", "0:a:0")
    end = max(p.pts + p.duration for p in audio)
    assert abs((end - audio[0].pts) / tb - encoded.probe.duration_s) <= DURATION_TOLERANCE_S
    # A/V sync as a player sees it: a master with the top variant and the audio group,
    # against the unchunked top variant (audio muxed in): the same video-audio offset.
    lines = (encoded.package / "master.m3u8").read_text().splitlines()
    (top,) = [i for i, line in enumerate(lines) if line.startswith("#EXT-X-STREAM-INF")][:1]
    single = tmp / "single.m3u8"
    single.write_text("\n".join([*lines[: top + 2]]) + "\n")
    shutil.copy(single, encoded.package / "single.m3u8")
    offsets = []
    for playlist in (
        encoded.package / "single.m3u8",
        encoded.unchunked.out_dir / encoded.ladder[0].name / "index.m3u8",
    ):
        (vtb, video), (atb, sound) = streams(playlist, "0:v:0", "0:a:0")
        offsets.append(min(p.pts for p in video) / vtb - min(p.pts for p in sound) / atb)
    assert math.isclose(offsets[0], offsets[1], abs_tol=0.002), offsets
    (encoded.package / "single.m3u8").unlink()


# -- sources ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ntsc(tmp_path_factory: pytest.TempPathFactory) -> Encoded:
    """29.97 fps with B-frames and audio, 28.5 s: chunks of 8 s and a 4.5 s last one."""
    workdir = tmp_path_factory.mktemp("ntsc")
    source = make_source(workdir / "source.mp4", rate="30000/1001", duration_s=28.5)
    return encode_both(workdir, source, chunk_s=8)


def test_ntsc_chunks_are_planned_with_a_short_last_one(ntsc: Encoded) -> None:
    assert [(s.start_s, s.end_s) for s in ntsc.spans] == [
        (0.0, 8.0), (8.0, 16.0), (16.0, 24.0), (24.0, 28.5),
    ]  # fmt: skip
    assert ntsc.probe.fps == 29.97
    assert sum(c.poster is not None for c in ntsc.chunks) == 1


def test_ntsc_package_equals_the_unchunked_one(ntsc: Encoded) -> None:
    check_package_matches_unchunked(ntsc)


def test_ntsc_frames_are_seamless_across_chunks(ntsc: Encoded) -> None:
    check_frames_are_seamless(ntsc)
    check_chunk_timelines(ntsc)


def test_ntsc_every_source_frame_once(ntsc: Encoded) -> None:
    _, source = packets(ntsc.source)
    check_source_frames(ntsc, len(source))


def test_ntsc_validates_like_an_unchunked_package(ntsc: Encoded, tmp_path: Path) -> None:
    check_validates_like_an_unchunked_package(ntsc, tmp_path)


def test_ntsc_audio_lasts_the_source_in_sync(ntsc: Encoded, tmp_path: Path) -> None:
    check_audio(ntsc, tmp_path)


def test_a_missing_chunk_or_a_moved_one_is_refused(ntsc: Encoded) -> None:
    chunks = ntsc.chunks
    with pytest.raises(RetryableError, match="chunk 2 is missing") as missing:
        plan_stitch(
            [chunks[0], chunks[1], chunks[3]], ntsc.audio, ntsc.ladder, ntsc.probe.duration_s
        )
    assert missing.value.code is ErrorCode.OUTPUT_INVALID
    # Chunk 2 recorded as if it started half a second late: a jump at its boundary.
    late = PartOutput.from_json(chunks[2].to_json())
    late = dataclasses.replace(
        late,
        tracks=tuple(
            dataclasses.replace(t, start=t.start + t.timescale // 2, end=t.end + t.timescale // 2)
            for t in late.tracks
        ),
    )
    with pytest.raises(RetryableError, match=r"chunk 2: 180p starts at .*gap of 0\.5"):
        plan_stitch(
            [chunks[0], chunks[1], late, chunks[3]], ntsc.audio, ntsc.ladder, ntsc.probe.duration_s
        )


def test_fmp4_reader_on_run_transcode_output(ntsc: Encoded) -> None:
    """media.fmp4 reads what ffmpeg wrote: timescales, contiguous tfdt, every frame once."""
    out = ntsc.unchunked.out_dir / ntsc.ladder[0].name
    playlist = parse_media_playlist((out / "index.m3u8").read_text())
    assert playlist.map_uri is not None
    tracks = read_init((out / playlist.map_uri).read_bytes())
    assert [(t.track_id, t.handler, t.sample_entry, t.timescale) for t in tracks] == [
        (1, "vide", "avc1", 30000),
        (2, "soun", "mp4a", 48000),
    ]
    ends = {1: 0, 2: 0}
    frames = 0
    for segment in playlist.segments:
        runs = read_segment((out / segment.uri).read_bytes(), tracks)
        for track_id, run in runs.items():
            assert run.base_decode_time == ends[track_id]
            ends[track_id] = run.end
        assert runs[1].first_is_sync
        assert runs[1].duration / 30000 == pytest.approx(segment.duration_s, abs=1e-3)
        frames += runs[1].samples
    _, video = packets(out / "index.m3u8")
    assert frames == len(video)


@pytest.fixture(scope="module")
def mpegts(tmp_path_factory: pytest.TempPathFactory) -> Encoded:
    """MPEG-TS (a start time of 1.4 s) at 30 fps: frames fall exactly on the chunk cuts."""
    workdir = tmp_path_factory.mktemp("mpegts")
    source = make_source(workdir / "source.ts", rate="30", duration_s=20)
    return encode_both(workdir, source, chunk_s=8)


def test_mpegts_with_a_start_time_is_seamless(mpegts: Encoded, tmp_path: Path) -> None:
    assert mpegts.probe.format_name == "mpegts"
    assert len(mpegts.spans) == 3
    check_package_matches_unchunked(mpegts)
    check_frames_are_seamless(mpegts)
    check_chunk_timelines(mpegts)
    # The muxer starts the video 2/3 of a frame after the audio; run_transcode's constant
    # frame rate starts with the audio, repeating the first frame once: so must the chunks.
    _, source = packets(mpegts.source)
    check_source_frames(mpegts, len(source) + 1, padded=1)
    check_validates_like_an_unchunked_package(mpegts, tmp_path)
    check_audio(mpegts, tmp_path)


def test_rotated_odd_sized_source_is_seamless(tmp_path: Path) -> None:
    """A portrait phone clip stored sideways, of an odd size (4:4:4, no B-frames)."""
    source = make_clip(
        tmp_path / "source.mp4", width=321, height=181, fps=25, duration_s=12, rotate=90
    )
    encoded = encode_both(tmp_path, source, chunk_s=4)
    assert [(r.width, r.height) for r in encoded.ladder] == [(180, 320), (144, 256)]
    check_package_matches_unchunked(encoded)
    check_frames_are_seamless(encoded)
    check_chunk_timelines(encoded)
    _, frames = packets(source)
    check_source_frames(encoded, len(frames))
    check_validates_like_an_unchunked_package(encoded, tmp_path)


def test_high_rate_source_is_halved_the_same_way_in_chunks(tmp_path: Path) -> None:
    """100 fps becomes 50 fps: the fps filter picks the same frames in each chunk."""
    source = make_source(
        tmp_path / "source.mp4", rate="100", duration_s=12, size="160x90", audio=False
    )
    encoded = encode_both(tmp_path, source, chunk_s=4, rungs=(Rung(90, 200), Rung(72, 150)))
    assert [(r.width, r.height, r.fps) for r in encoded.ladder] == [
        (160, 90, 50.0),
        (128, 72, 50.0),
    ]
    assert encoded.audio is None
    check_package_matches_unchunked(encoded)
    check_frames_are_seamless(encoded)
    check_chunk_timelines(encoded)
    check_source_frames(encoded, 600)
    check_validates_like_an_unchunked_package(encoded, tmp_path)
