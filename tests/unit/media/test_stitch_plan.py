"""The stitch plan over hand-made part manifests, and the chunk and audio command lines."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import pytest

from vodforge.domain.chunks import ChunkSpan
from vodforge.domain.ladder import Rendition
from vodforge.errors import ErrorCode, RetryableError
from vodforge.media.chunks import audio_argv, chunk_argv, chunk_timeout_s, cut_s, output_rate
from vodforge.media.parts import PartOutput, SegmentPart, TrackPart, check_chunk
from vodforge.media.probe_header import ProbeResult
from vodforge.media.sniff import FORMAT_WHITELIST
from vodforge.media.stitch import plan_stitch

R360 = Rendition("360p", 640, 360, 30.0, 800, 21, True)
R240 = Rendition("240p", 426, 240, 30.0, 400, 21, True)
LADDER = (R360, R240)
TS = 15360  # what libx264 at 30 fps gets in fMP4: 512 per frame
FRAME = 512


def track(
    name: str,
    start_frame: int,
    segments: list[int],  # frames per segment
    *,
    size: tuple[int, int] = (640, 360),
    sha: str = "a" * 64,
    codecs: str = "avc1.64001e",
    keyframes: bool = True,
) -> TrackPart:
    parts = tuple(
        SegmentPart(f"{name}/seg_{i:05d}.m4s", frames * FRAME / TS, 1000 * frames, keyframes)
        for i, frames in enumerate(segments)
    )
    return TrackPart(
        name=name,
        init=f"{name}/init.mp4",
        init_sha256=sha,
        codecs=codecs,
        width=size[0],
        height=size[1],
        timescale=TS,
        start=start_frame * FRAME,
        end=(start_frame + sum(segments)) * FRAME,
        samples=sum(segments),
        segments=parts,
    )


def chunk(index: int, start_frame: int, segments: list[int], **changes: object) -> PartOutput:
    tracks = (
        track("360p", start_frame, segments, **changes),  # type: ignore[arg-type]
        track("240p", start_frame, segments, size=(426, 240)),
    )
    return PartOutput(kind="chunk", index=index, tracks=tracks)


def audio(seconds: float = 20.0) -> PartOutput:
    aac = 1024
    frames = round(seconds * 48000 / aac)
    per_segment = [188, 187] * (frames // 375) + [frames % 375]
    segments = tuple(
        SegmentPart(f"audio/seg_{i:05d}.m4s", n * aac / 48000, 330 * n, True)
        for i, n in enumerate(s for s in per_segment if s)
    )
    return PartOutput(
        kind="audio",
        index=0,
        tracks=(
            TrackPart(
                name="audio",
                init="audio/init.mp4",
                init_sha256="b" * 64,
                codecs="mp4a.40.2",
                width=0,
                height=0,
                timescale=48000,
                start=0,
                end=frames * aac,
                samples=frames,
                segments=segments,
            ),
        ),
    )


def chunks_of_20s() -> list[PartOutput]:
    """[0, 8), [8, 16), [16, 20) at 30 fps: 4 s segments of 120 frames."""
    return [chunk(0, 0, [120, 120]), chunk(1, 240, [120, 120]), chunk(2, 480, [120])]


def test_plan_lays_the_chunks_out_as_one_package() -> None:
    plan = plan_stitch(chunks_of_20s(), audio(), LADDER, 20.0)
    video = [c for c in plan.copies if c[2].startswith("360p/")]
    assert video == [
        (0, "360p/init.mp4", "360p/init.mp4"),
        (0, "360p/seg_00000.m4s", "360p/seg_00000.m4s"),
        (0, "360p/seg_00001.m4s", "360p/seg_00001.m4s"),
        (1, "360p/seg_00000.m4s", "360p/seg_00002.m4s"),
        (1, "360p/seg_00001.m4s", "360p/seg_00003.m4s"),
        (2, "360p/seg_00000.m4s", "360p/seg_00004.m4s"),
    ]
    # The audio is the part after the chunks.
    assert (3, "audio/init.mp4", "audio/init.mp4") in plan.copies
    audio_segments = len(audio().tracks[0].segments)
    assert sum(1 for c in plan.copies if c[2].startswith("audio/seg_")) == audio_segments
    assert plan.files["360p/index.m3u8"].decode() == (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        '#EXT-X-MAP:URI="init.mp4"\n'
        + "".join(f"#EXTINF:4.000000,\nseg_{i:05d}.m4s\n" for i in range(5))
        + "#EXT-X-ENDLIST\n"
    )
    report = plan.report
    assert report.master == Path("master.m3u8")
    assert report.segment_count == 5 and report.duration_s == pytest.approx(20.0)
    assert [r.name for r in report.renditions] == ["360p", "240p"]
    top = report.renditions[0]
    assert top.codecs == "avc1.64001e,mp4a.40.2" and top.playlist == "360p/index.m3u8"
    # 1000 bytes a frame at 30 fps is 240 kbit/s of video; the audio adds its own rate.
    assert top.average_bps > 240_000 and top.peak_bps >= top.average_bps


def test_master_has_one_audio_group_and_every_variant_attribute() -> None:
    plan = plan_stitch(chunks_of_20s(), audio(), LADDER, 20.0)
    lines = plan.files["master.m3u8"].decode().splitlines()
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    assert lines[3] == (
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,'
        'CHANNELS="2",URI="audio/index.m3u8"'
    )
    top = plan.report.renditions[0]
    assert lines[4] == (
        f"#EXT-X-STREAM-INF:BANDWIDTH={top.peak_bps},AVERAGE-BANDWIDTH={top.average_bps},"
        'RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",FRAME-RATE=30.000,AUDIO="audio"'
    )
    assert lines[5] == "360p/index.m3u8" and lines[7] == "240p/index.m3u8"


def test_silent_video_has_no_audio_group() -> None:
    silent = tuple(dataclasses.replace(r, audio=False) for r in LADDER)
    plan = plan_stitch(chunks_of_20s(), None, silent, 20.0)
    master = plan.files["master.m3u8"].decode()
    assert "EXT-X-MEDIA" not in master and "AUDIO=" not in master and "mp4a" not in master
    assert not any(target.startswith("audio/") for _, _, target in plan.copies)


def test_chunks_in_any_order_copy_from_their_own_positions() -> None:
    first, second, third = chunks_of_20s()
    plan = plan_stitch([third, first, second], audio(), LADDER, 20.0)
    assert (0, "360p/seg_00000.m4s", "360p/seg_00004.m4s") in plan.copies
    assert (1, "360p/seg_00000.m4s", "360p/seg_00000.m4s") in plan.copies


def test_poster_comes_from_the_chunk_that_made_it() -> None:
    parts = chunks_of_20s()
    parts[0] = dataclasses.replace(parts[0], poster="poster.jpg", thumbnail="thumbnail.jpg")
    plan = plan_stitch(parts, audio(), LADDER, 20.0)
    assert (0, "poster.jpg", "poster.jpg") in plan.copies
    assert (0, "thumbnail.jpg", "thumbnail.jpg") in plan.copies


def invalid(*args: object, match: str) -> None:
    with pytest.raises(RetryableError, match=match) as raised:
        plan_stitch(*args)  # type: ignore[arg-type]
    assert raised.value.code is ErrorCode.OUTPUT_INVALID


def test_a_missing_or_repeated_chunk_is_refused() -> None:
    first, second, third = chunks_of_20s()
    invalid([first, third], audio(), LADDER, 20.0, match="chunk 1 is missing")
    invalid([first, second, second], audio(), LADDER, 20.0, match="chunk 1 is given twice")
    invalid([], audio(), LADDER, 20.0, match="no chunks")


def test_a_gap_an_overlap_or_a_jump_at_a_boundary_is_refused() -> None:
    first, _, third = chunks_of_20s()
    late = chunk(1, 250, [120, 110])  # starts 10 frames late, ends where chunk 2 starts
    invalid([first, late, third], audio(), LADDER, 20.0, match=r"chunk 1: 360p starts at .*gap")
    early = chunk(1, 236, [120, 124])
    invalid([first, early, third], audio(), LADDER, 20.0, match=r"chunk 1: .*overlap")
    jump = chunk(2, 480 + 300, [120])
    invalid([first, chunks_of_20s()[1], jump], audio(), LADDER, 20.0, match=r"chunk 2: .*gap")


def _nudged(part: PartOutput, ticks: int) -> PartOutput:
    return PartOutput(
        "chunk",
        part.index,
        tuple(
            dataclasses.replace(t, start=t.start + ticks, end=t.end + ticks) for t in part.tracks
        ),
    )


def test_less_than_half_a_frame_is_accepted() -> None:
    first, _, third = chunks_of_20s()
    nudged = _nudged(chunk(1, 240, [120, 120]), 200)  # 200 of the 512 ticks of a frame
    assert plan_stitch([first, nudged, third], audio(), LADDER, 20.0).report.segment_count == 5


def test_one_frame_missing_at_a_boundary_is_refused() -> None:
    # A chunk that lost its first frame starts one frame (512 ticks) after the one before.
    first, _, third = chunks_of_20s()
    late = _nudged(chunk(1, 240, [120, 120]), 512)
    invalid([first, late, third], audio(), LADDER, 20.0, match=r"chunk 1: .*gap of 0.0333")


def test_a_chunk_must_start_every_segment_on_a_keyframe() -> None:
    first, _, third = chunks_of_20s()
    invalid(
        [first, chunk(1, 240, [120, 120], keyframes=False), third],
        audio(),
        LADDER,
        20.0,
        match="chunk 1: segment 0 of 360p does not start with a keyframe",
    )


def test_every_rendition_must_be_there_at_its_size_and_aligned() -> None:
    first, second, third = chunks_of_20s()
    lonely = PartOutput("chunk", 1, second.tracks[:1])
    invalid([first, lonely, third], audio(), LADDER, 20.0, match="chunk 1 has no 240p")
    small = chunk(1, 240, [120, 120], size=(320, 180))
    invalid([first, small, third], audio(), LADDER, 20.0, match="360p is 320x180, planned 640x360")
    skewed = PartOutput(
        "chunk", 1, (second.tracks[0], track("240p", 240, [60, 180], size=(426, 240)))
    )
    invalid([first, skewed, third], audio(), LADDER, 20.0, match="segment 1 of .* not aligned")


def test_durations_must_sum_to_the_source() -> None:
    invalid(chunks_of_20s(), audio(21.0), LADDER, 21.0, match="360p lasts 20.000 s, source 21")


def test_audio_is_required_when_the_ladder_has_it_and_must_last_the_source() -> None:
    invalid(chunks_of_20s(), None, LADDER, 20.0, match="no audio part")
    invalid(chunks_of_20s(), audio(18.0), LADDER, 20.0, match="audio lasts 18.0")
    invalid(chunks_of_20s(), chunks_of_20s()[0], LADDER, 20.0, match="'chunk' part was given as")


def test_a_different_init_gets_its_own_map_and_a_codec_change_a_discontinuity() -> None:
    first, second, third = chunks_of_20s()
    rebuilt = chunk(1, 240, [120, 120], sha="c" * 64)  # another encoder build, same codec
    plan = plan_stitch([first, rebuilt, third], audio(), LADDER, 20.0)
    text = plan.files["360p/index.m3u8"].decode()
    assert text.count("#EXT-X-MAP") == 3 and "DISCONTINUITY" not in text
    assert '#EXT-X-MAP:URI="init_1.mp4"\n#EXTINF:4.000000,\nseg_00002.m4s' in text
    assert '#EXT-X-MAP:URI="init.mp4"\n#EXTINF:4.000000,\nseg_00004.m4s' in text
    assert (1, "360p/init.mp4", "360p/init_1.mp4") in plan.copies
    # The 240p init is the same in every chunk: one map.
    assert plan.files["240p/index.m3u8"].decode().count("#EXT-X-MAP") == 1

    leveled = chunk(1, 240, [120, 120], sha="d" * 64, codecs="avc1.64001f")
    plan = plan_stitch([first, leveled, third], audio(), LADDER, 20.0)
    for name in ("360p", "240p"):  # every variant, so discontinuity numbers still match
        text = plan.files[f"{name}/index.m3u8"].decode()
        assert text.count("#EXT-X-DISCONTINUITY") == 2, name
    assert plan.report.renditions[0].codecs == "avc1.64001e,avc1.64001f,mp4a.40.2"
    assert second is not leveled


def test_part_manifests_round_trip_through_json() -> None:
    part = dataclasses.replace(chunks_of_20s()[0], poster="poster.jpg", thumbnail="thumbnail.jpg")
    assert PartOutput.from_json(part.to_json()) == part
    assert PartOutput.from_json(audio().to_json()) == audio()


# -- checking one chunk ------------------------------------------------------------------------


def test_check_chunk_accepts_a_whole_chunk_and_names_what_is_wrong() -> None:
    span = ChunkSpan(1, 8.0, 16.0)
    check_chunk(chunk(1, 240, [120, 120]), span, LADDER, 20.0, last=False)
    with pytest.raises(RetryableError, match=r"starts at 8.333333 s, not within one frame of 8"):
        check_chunk(chunk(1, 250, [120, 110]), span, LADDER, 20.0, last=False)
    with pytest.raises(RetryableError, match=r"ends at 15.000000 s, expected 16"):
        check_chunk(chunk(1, 240, [120, 90]), span, LADDER, 20.0, last=False)
    last = ChunkSpan(2, 16.0, 20.1)  # the source lasts a little longer than its video
    check_chunk(chunk(2, 480, [120]), last, LADDER, 20.1, last=True)


# -- command lines -----------------------------------------------------------------------------

SOURCE = Path("/scratch/job/source.bin")
OUT = Path("/scratch/job/part")


def probe(**changes: object) -> ProbeResult:
    base = ProbeResult(
        format_name="mov",
        duration_s=20.0,
        width=640,
        height=360,
        coded_width=640,
        coded_height=360,
        rotation=0,
        fps=29.97,
        is_vfr=False,
        video_codec="h264",
        pix_fmt="yuv420p",
        bit_depth=8,
        has_audio=True,
        audio_codec="aac",
        size_bytes=1000,
    )
    return ProbeResult.from_json(base.to_json() | changes)


def input_of(demuxer: str) -> list[str]:
    return [
        "-protocol_whitelist", "file", "-format_whitelist", FORMAT_WHITELIST,
        "-f", demuxer, "-i", "file:/scratch/job/source.bin",
    ]  # fmt: skip


NTSC = [dataclasses.replace(r, fps=29.97) for r in LADDER]
ENCODER = [
    "-map_metadata", "-1", "-map_chapters", "-1",
    "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
    "-crf:v:0", "21", "-maxrate:v:0", "800k", "-bufsize:v:0", "1600k",
    "-g:v:0", "60", "-keyint_min:v:0", "60",
    "-crf:v:1", "21", "-maxrate:v:1", "400k", "-bufsize:v:1", "800k",
    "-g:v:1", "60", "-keyint_min:v:1", "60",
    "-sc_threshold", "0", "-force_key_frames", "expr:gte(t,n_forced*2)",
]  # fmt: skip
HLS = [
    "-avoid_negative_ts", "disabled",
    "-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod",
    "-hls_segment_type", "fmp4", "-hls_flags", "independent_segments+temp_file",
    "-hls_fmp4_init_filename", "init.mp4",
    "-hls_segment_options", "movflags=+frag_discont",
    "-hls_segment_filename", "/scratch/job/part/%v/seg_%05d.m4s",
    "-var_stream_map", "v:0,name:360p v:1,name:240p",
    "/scratch/job/part/%v/index.m3u8",
]  # fmt: skip
AUDIO_TIMELINE = ["-map", "0:a:0", "-c", "copy", "-frames:a", "1", "-f", "null", "-"]


def test_a_middle_chunk_seeks_and_cuts_between_frame_slots() -> None:
    argv = chunk_argv("ffmpeg", SOURCE, probe(), NTSC, ChunkSpan(1, 8.0, 16.0), OUT)
    # 8 s is slot 239.76 of 30000/1001: the chunk starts with slot 240, half a slot before.
    assert argv == [
        "ffmpeg", "-nostdin", "-hide_banner", "-y", "-progress", "pipe:1", "-nostats",
        "-copyts", "-start_at_zero", "-ss", "7",
        *input_of("mov"),
        "-filter_complex",
        "[0:V:0]split=2[s0][s1];"
        "[s0]trim=start=7.991317:end=15.999317,scale=640:360,setsar=1,format=yuv420p[v0];"
        "[s1]trim=start=7.991317:end=15.999317,scale=426:240,setsar=1,format=yuv420p[v1]",
        "-map", "[v0]", "-map", "[v1]",
        *ENCODER, *HLS, *AUDIO_TIMELINE,
    ]  # fmt: skip


def test_the_first_chunk_keeps_constant_rate_from_0_and_the_last_runs_to_the_end() -> None:
    first = chunk_argv("ffmpeg", SOURCE, probe(), NTSC, ChunkSpan(0, 0.0, 8.0), OUT)
    assert "-ss" not in first
    graph = first[first.index("-filter_complex") + 1]
    assert "[s0]trim=end=7.991317,scale" in graph
    assert first[first.index("-fps_mode") : first.index("-fps_mode") + 2] == ["-fps_mode", "cfr"]
    last = chunk_argv("ffmpeg", SOURCE, probe(), NTSC, ChunkSpan(2, 16.0, 20.0), OUT)
    assert "[s0]trim=start=15.999317,scale" in last[last.index("-filter_complex") + 1]
    assert "-fps_mode" not in last


def test_a_chunk_of_an_mpegts_source_decodes_from_the_start() -> None:
    argv = chunk_argv(
        "ffmpeg", SOURCE, probe(format_name="mpegts"), NTSC, ChunkSpan(1, 8.0, 16.0), OUT
    )
    assert "-ss" not in argv
    at = argv.index("-i")
    assert argv[at - 2 : at + 2] == ["-f", "mpegts", "-i", "file:/scratch/job/source.bin"]


def test_a_halved_rate_is_cut_on_its_own_slots() -> None:
    fast = probe(fps=100.0, has_audio=False, audio_codec=None)
    ladder = [Rendition("90p", 160, 90, 50.0, 200, 21, False)]
    argv = chunk_argv("ffmpeg", SOURCE, fast, ladder, ChunkSpan(1, 4.0, 8.0), OUT, threads=2)
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph == (
        "[0:V:0]split=1[s0];"
        "[s0]fps=50,trim=start_pts=200:end_pts=400,scale=160:90,setsar=1,format=yuv420p[v0]"
    )
    assert argv[-1] == "/scratch/job/part/%v/index.m3u8"  # no audio to read alongside
    assert argv[argv.index("-threads") + 1] == "2"


def test_audio_argv_reads_one_video_packet_for_the_same_timeline() -> None:
    assert audio_argv("ffmpeg", SOURCE, probe(), OUT) == [
        "ffmpeg", "-nostdin", "-hide_banner", "-y", "-progress", "pipe:1", "-nostats",
        *input_of("mov"),
        "-map", "0:a:0", "-map_metadata", "-1", "-map_chapters", "-1",
        "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000",
        "-avoid_negative_ts", "disabled",
        "-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4", "-hls_flags", "independent_segments+temp_file",
        "-hls_fmp4_init_filename", "init.mp4",
        "-hls_segment_filename", "/scratch/job/part/audio/seg_%05d.m4s",
        "/scratch/job/part/audio/index.m3u8",
        "-map", "0:V:0", "-c", "copy", "-frames:v", "1", "-f", "null", "-",
    ]  # fmt: skip


def test_a_chunk_that_cannot_seek_gets_time_to_decode_up_to_itself() -> None:
    span = ChunkSpan(9, 540.0, 600.0)
    assert chunk_timeout_s(span, probe()) == 600.0
    assert chunk_timeout_s(span, probe(format_name="mpegts")) == 1140.0


def test_out_dir_with_percent_is_refused() -> None:
    with pytest.raises(ValueError, match="%"):
        chunk_argv("ffmpeg", SOURCE, probe(), NTSC, ChunkSpan(1, 8.0, 16.0), Path("/tmp/a%v"))


@pytest.mark.parametrize(
    ("fps", "expected"),
    [
        (29.97, Fraction(30000, 1001)),
        (23.98, Fraction(24000, 1001)),
        (59.94, Fraction(60000, 1001)),
        (25.0, Fraction(25)),
        (12.5, Fraction(25, 2)),
    ],
)
def test_output_rate_is_the_exact_rational(fps: float, expected: Fraction) -> None:
    rendition = Rendition("x", 64, 36, fps, 100, 21, False)
    assert output_rate(probe(fps=fps), rendition) == expected


def test_cut_is_half_a_slot_before_the_first_slot_of_the_boundary() -> None:
    assert cut_s(8.0, Fraction(30)) == Fraction(479, 60)  # slot 240 is exactly 8 s
    assert cut_s(8.0, Fraction(30000, 1001)) == Fraction(2395 * 1001, 300000)  # slot 240
