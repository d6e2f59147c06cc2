"""The ffmpeg command lines, compared as whole lists so any change is deliberate."""

from __future__ import annotations

from pathlib import Path

import pytest

from vodforge.domain.ladder import Rendition
from vodforge.media.commands import filter_graph, poster_argv, poster_time_s, transcode_argv
from vodforge.media.probe_header import ProbeResult
from vodforge.media.sniff import FORMAT_WHITELIST

SOURCE = Path("/scratch/job/source.bin")
OUT = Path("/scratch/job/out")
HARDENED_INPUT = [
    "-protocol_whitelist", "file", "-format_whitelist", FORMAT_WHITELIST,
    "-f", "mov", "-i", "file:/scratch/job/source.bin",
]  # fmt: skip


def probe(**changes: object) -> ProbeResult:
    base = ProbeResult(
        format_name="mov",
        duration_s=12.0,
        width=1280,
        height=720,
        coded_width=1280,
        coded_height=720,
        rotation=0,
        fps=30.0,
        is_vfr=False,
        video_codec="h264",
        pix_fmt="yuv420p",
        bit_depth=8,
        has_audio=True,
        audio_codec="aac",
        size_bytes=1000,
    )
    data = base.to_json() | changes
    return ProbeResult.from_json(data)


R720 = Rendition("720p", 1280, 720, 30.0, 2800, 21, True)
R360 = Rendition("360p", 640, 360, 30.0, 800, 21, True)


def test_two_rung_ladder_with_audio() -> None:
    argv = transcode_argv("ffmpeg", SOURCE, probe(), [R720, R360], OUT)
    assert argv == [
        "ffmpeg", "-nostdin", "-hide_banner", "-y", "-progress", "pipe:1", "-nostats",
        *HARDENED_INPUT,
        "-filter_complex",
        "[0:V:0]split=2[s0][s1];"
        "[s0]scale=1280:720,setsar=1,format=yuv420p[v0];"
        "[s1]scale=640:360,setsar=1,format=yuv420p[v1]",
        "-map", "[v0]", "-map", "0:a:0", "-map", "[v1]", "-map", "0:a:0",
        "-map_metadata", "-1", "-map_chapters", "-1",
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
        "-crf:v:0", "21", "-maxrate:v:0", "2800k", "-bufsize:v:0", "5600k",
        "-g:v:0", "60", "-keyint_min:v:0", "60",
        "-crf:v:1", "21", "-maxrate:v:1", "800k", "-bufsize:v:1", "1600k",
        "-g:v:1", "60", "-keyint_min:v:1", "60",
        "-sc_threshold", "0", "-force_key_frames", "expr:gte(t,n_forced*2)",
        "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000",
        "-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4", "-hls_flags", "independent_segments+temp_file",
        "-hls_fmp4_init_filename", "init.mp4",
        "-hls_segment_filename", "/scratch/job/out/%v/seg_%05d.m4s",
        "-master_pl_name", "master.m3u8",
        "-var_stream_map", "v:0,a:0,name:720p v:1,a:1,name:360p",
        "/scratch/job/out/%v/index.m3u8",
    ]  # fmt: skip


def test_silent_high_rate_source_caps_fps_and_maps_no_audio() -> None:
    rendition = Rendition("64p", 96, 64, 60.0, 150, 23, False)
    argv = transcode_argv(
        "/opt/ffmpeg", SOURCE, probe(fps=120.0, has_audio=False, audio_codec=None,
        format_name="matroska"), [rendition], OUT, preset="medium", segment_s=6, gop_s=3,
        threads=2,
    )  # fmt: skip
    assert argv == [
        "/opt/ffmpeg", "-nostdin", "-hide_banner", "-y", "-progress", "pipe:1", "-nostats",
        "-protocol_whitelist", "file", "-format_whitelist", FORMAT_WHITELIST,
        "-f", "matroska", "-i", "file:/scratch/job/source.bin",
        "-filter_complex",
        "[0:V:0]split=1[s0];[s0]fps=60,scale=96:64,setsar=1,format=yuv420p[v0]",
        "-map", "[v0]",
        "-map_metadata", "-1", "-map_chapters", "-1",
        "-c:v", "libx264", "-preset", "medium", "-profile:v", "high",
        "-crf:v:0", "23", "-maxrate:v:0", "150k", "-bufsize:v:0", "300k",
        "-g:v:0", "180", "-keyint_min:v:0", "180",
        "-sc_threshold", "0", "-force_key_frames", "expr:gte(t,n_forced*3)",
        "-threads", "2",
        "-f", "hls", "-hls_time", "6", "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4", "-hls_flags", "independent_segments+temp_file",
        "-hls_fmp4_init_filename", "init.mp4",
        "-hls_segment_filename", "/scratch/job/out/%v/seg_%05d.m4s",
        "-master_pl_name", "master.m3u8",
        "-var_stream_map", "v:0,name:64p",
        "/scratch/job/out/%v/index.m3u8",
    ]  # fmt: skip


def test_rotated_source_scales_to_display_size() -> None:
    portrait = probe(width=720, height=1280, coded_width=1280, coded_height=720, rotation=90)
    rendition = Rendition("720p", 720, 1280, 30.0, 2800, 21, True)
    argv = transcode_argv("ffmpeg", SOURCE, portrait, [rendition], OUT)
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph == "[0:V:0]split=1[s0];[s0]scale=720:1280,setsar=1,format=yuv420p[v0]"
    assert "-noautorotate" not in argv and "-autorotate" not in argv


def test_refuses_empty_ladder_and_percent_in_paths() -> None:
    with pytest.raises(ValueError, match="empty"):
        transcode_argv("ffmpeg", SOURCE, probe(), [], OUT)
    with pytest.raises(ValueError, match="%"):
        transcode_argv("ffmpeg", SOURCE, probe(), [R720], Path("/tmp/a%v"))


def test_poster_and_thumbnail_in_one_small_call() -> None:
    argv = poster_argv("ffmpeg", SOURCE, probe(), R720, OUT)
    assert argv == [
        "ffmpeg", "-nostdin", "-hide_banner", "-y", "-ss", "1.2",
        *HARDENED_INPUT,
        "-filter_complex",
        "[0:V:0]split=2[a][b];[a]scale=1280:720,setsar=1[poster];"
        "[b]scale=320:-2,setsar=1[thumb]",
        "-map_metadata", "-1",
        "-map", "[poster]", "-frames:v", "1", "-q:v", "3", "-update", "1",
        "/scratch/job/out/poster.jpg",
        "-map", "[thumb]", "-frames:v", "1", "-q:v", "4", "-update", "1",
        "/scratch/job/out/thumbnail.jpg",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("duration", "expected"), [(12.0, 1.2), (2.0, 0.2), (0.3, 0.0), (0.6, 0.06), (100.0, 10.0)]
)
def test_poster_time_is_inside_the_video(duration: float, expected: float) -> None:
    assert poster_time_s(duration) == pytest.approx(expected)


def test_poster_and_thumbnail_from_the_transcode_pass() -> None:
    plain = transcode_argv("ffmpeg", SOURCE, probe(), [R720, R360], OUT)
    argv = transcode_argv("ffmpeg", SOURCE, probe(), [R720, R360], OUT, with_poster=True)
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph == (
        "[0:V:0]split=3[s0][s1][s2];"
        "[s0]scale=1280:720,setsar=1,format=yuv420p[v0];"
        "[s1]scale=640:360,setsar=1,format=yuv420p[v1];"
        # The first frame at poster_time_s (1.2 s of 12 s), as `-ss 1.2` would give it.
        "[s2]select='gte(t,1.2)*isnan(prev_selected_t)',split=2[pa][pb];"
        "[pa]scale=1280:720,setsar=1[poster];[pb]scale=320:-2,setsar=1[thumb]"
    )
    # The HLS output is unchanged and first (its progress is the job's); the images follow.
    at = plain.index("-filter_complex") + 1
    assert argv[:at] == plain[:at]
    assert argv[at + 1 : len(plain)] == plain[at + 1 :]
    assert argv[len(plain) :] == [
        "-map", "[poster]", "-map_metadata", "-1", "-frames:v", "1", "-q:v", "3",
        "-update", "1", "/scratch/job/out/poster.jpg",
        "-map", "[thumb]", "-map_metadata", "-1", "-frames:v", "1", "-q:v", "4",
        "-update", "1", "/scratch/job/out/thumbnail.jpg",
    ]  # fmt: skip


def test_thumbnail_never_wider_than_the_top_rendition() -> None:
    tiny = Rendition("64p", 96, 64, 30.0, 150, 23, False)
    short = probe(duration_s=0.3, width=96, height=64)
    graph = filter_graph(short, [tiny], with_poster=True)
    assert graph.endswith(
        "[s1]select='gte(t,0)*isnan(prev_selected_t)',split=2[pa][pb];"
        "[pa]scale=96:64,setsar=1[poster];[pb]scale=96:-2,setsar=1[thumb]"
    )
