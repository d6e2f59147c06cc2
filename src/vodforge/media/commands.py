"""Pure builders of ffmpeg command lines (transcode to an HLS ladder, poster and thumbnail).

Output layout under out_dir: master.m3u8, <name>/index.m3u8, <name>/init_<i>.mp4,
<name>/seg_NNNNN.m4s for each rendition, and poster.jpg + thumbnail.jpg.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vodforge.domain.ladder import Rendition
from vodforge.media.probe_header import ProbeResult
from vodforge.media.sniff import input_args

MASTER_NAME = "master.m3u8"
MEDIA_PLAYLIST = "index.m3u8"
INIT_NAME = "init.mp4"  # the hls muxer inserts _<variant index> before the extension
SEGMENT_PATTERN = "seg_%05d.m4s"
POSTER_NAME = "poster.jpg"
THUMBNAIL_NAME = "thumbnail.jpg"
AUDIO_BITRATE = "128k"
AUDIO_RATE = "48000"
H264_PROFILE = "high"


def _fmt(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _check_out_dir(out_dir: Path) -> None:
    # The hls muxer expands %v and %d in these paths; a stray % would corrupt them.
    if "%" in str(out_dir):
        raise ValueError(f"output directory may not contain '%': {out_dir}")


def rate_filter(probe: ProbeResult, rendition: Rendition) -> list[str]:
    """The frame rate step of a rendition's chain: [] when it keeps the source rate."""
    if rendition.fps < probe.fps - 0.01:
        return [f"fps={_fmt(rendition.fps)}"]
    return []


def picture_filters(rendition: Rendition) -> list[str]:
    """The size and pixel format steps of a rendition's chain."""
    # The decoder's frames are already upright (ffmpeg autorotates by default), so the
    # display size from the probe is what we scale to; setsar=1 makes pixels square.
    return [f"scale={rendition.width}:{rendition.height}", "setsar=1", "format=yuv420p"]


def _video_filter(probe: ProbeResult, rendition: Rendition) -> str:
    return ",".join(rate_filter(probe, rendition) + picture_filters(rendition))


def filter_graph(
    probe: ProbeResult, ladder: Sequence[Rendition], *, with_poster: bool = False
) -> str:
    """Decode once, split into one scaled branch per rendition, labelled [v0], [v1], ...;
    with_poster adds a branch that keeps one frame, as [poster] and [thumb]."""
    branches = len(ladder) + (1 if with_poster else 0)
    splits = "".join(f"[s{i}]" for i in range(branches))
    chains = [f"[0:V:0]split={branches}{splits}"]
    for i, rendition in enumerate(ladder):
        chains.append(f"[s{i}]{_video_filter(probe, rendition)}[v{i}]")
    if with_poster:
        chains.append(f"[s{len(ladder)}]{poster_filter(probe, ladder[0])}")
    return ";".join(chains)


def poster_filter(probe: ProbeResult, top: Rendition, *, thumbnail_width: int = 320) -> str:
    """From a stream of decoded frames, the first at poster_time_s: scaled to the top
    rendition's size as [poster] and thumbnail_width wide as [thumb].

    select passes that one frame and drops the rest unscaled, so the branch costs an
    expression per frame; it is the frame `-ss poster_time_s` before the input would give.
    """
    at = _fmt(poster_time_s(probe.duration_s))
    thumb_w = min(thumbnail_width, top.width) // 2 * 2
    return (
        f"select='gte(t,{at})*isnan(prev_selected_t)',split=2[pa][pb];"
        f"[pa]scale={top.width}:{top.height},setsar=1[poster];"
        f"[pb]scale={thumb_w}:-2,setsar=1[thumb]"
    )


def image_outputs(out_dir: Path) -> list[str]:
    """The [poster] and [thumb] labels written as poster.jpg and thumbnail.jpg."""
    argv: list[str] = []
    for label, quality, name in (("[poster]", "3", POSTER_NAME), ("[thumb]", "4", THUMBNAIL_NAME)):
        argv += ["-map", label, "-map_metadata", "-1", "-frames:v", "1", "-q:v", quality]
        argv += ["-update", "1", str(out_dir / name)]
    return argv


def transcode_argv(
    ffmpeg: str,
    source: Path,
    probe: ProbeResult,
    ladder: Sequence[Rendition],
    out_dir: Path,
    *,
    preset: str = "veryfast",
    segment_s: int = 4,
    gop_s: int = 2,
    threads: int = 0,
    with_poster: bool = False,
) -> list[str]:
    """One ffmpeg process that decodes once and writes every rendition as fMP4 HLS, and with
    with_poster also poster.jpg and thumbnail.jpg (see poster_filter) from the same decode.

    Segments are written as .tmp files renamed when complete (temp_file), so a segment file
    under its own name is whole and can be uploaded before ffmpeg finishes.
    """
    if not ladder:
        raise ValueError("the ladder is empty")
    _check_out_dir(out_dir)
    with_audio = probe.has_audio and any(r.audio for r in ladder)
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-y", "-progress", "pipe:1", "-nostats"]
    argv += input_args(source, probe.format_name)
    argv += ["-filter_complex", filter_graph(probe, ladder, with_poster=with_poster)]
    for i, _ in enumerate(ladder):
        argv += ["-map", f"[v{i}]"]
        if with_audio:
            argv += ["-map", "0:a:0"]
    # Uploaded metadata (GPS tags, device names) and chapters are not republished.
    argv += ["-map_metadata", "-1", "-map_chapters", "-1"]
    argv += video_encoder_args(ladder, preset=preset, gop_s=gop_s, threads=threads)
    if with_audio:
        argv += AUDIO_ENCODER_ARGS
    stream_map = " ".join(
        f"v:{i},a:{i},name:{r.name}" if with_audio else f"v:{i},name:{r.name}"
        for i, r in enumerate(ladder)
    )
    argv += [
        "-f", "hls",
        "-hls_time", str(segment_s),
        "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4",
        "-hls_flags", "independent_segments+temp_file",
        "-hls_fmp4_init_filename", INIT_NAME,
        "-hls_segment_filename", str(out_dir / "%v" / SEGMENT_PATTERN),
        "-master_pl_name", MASTER_NAME,
        "-var_stream_map", stream_map,
        str(out_dir / "%v" / MEDIA_PLAYLIST),
    ]  # fmt: skip
    if with_poster:
        argv += image_outputs(out_dir)
    return argv


def video_encoder_args(
    ladder: Sequence[Rendition], *, preset: str, gop_s: int, threads: int
) -> list[str]:
    """libx264 settings for output video streams 0..n-1 (one per rendition)."""
    argv = ["-c:v", "libx264", "-preset", preset, "-profile:v", H264_PROFILE]
    for i, rendition in enumerate(ladder):
        gop = str(max(1, round(rendition.fps * gop_s)))
        argv += [
            f"-crf:v:{i}", str(rendition.crf),
            f"-maxrate:v:{i}", f"{rendition.video_bitrate_kbps}k",
            f"-bufsize:v:{i}", f"{rendition.bufsize_kbps}k",
            f"-g:v:{i}", gop,
            f"-keyint_min:v:{i}", gop,
        ]  # fmt: skip
    # Scene-cut keyframes would differ per size; forced ones at the same times align them.
    # ffmpeg measures t from each output's first frame, so a chunk keeps the same cadence.
    argv += ["-sc_threshold", "0", "-force_key_frames", f"expr:gte(t,n_forced*{gop_s})"]
    if threads > 0:
        argv += ["-threads", str(threads)]
    return argv


AUDIO_ENCODER_ARGS = ["-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ac", "2", "-ar", AUDIO_RATE]


def poster_time_s(duration_s: float) -> float:
    """A representative moment: 10 % in, past a fade-in, but never past the end."""
    return round(max(0.0, min(duration_s * 0.1, duration_s - 0.5)), 3)


def poster_argv(
    ffmpeg: str,
    source: Path,
    probe: ProbeResult,
    top: Rendition,
    out_dir: Path,
    *,
    thumbnail_width: int = 320,
) -> list[str]:
    """poster.jpg at the top rendition's size and thumbnail.jpg (thumbnail_width wide)."""
    _check_out_dir(out_dir)
    thumb_w = min(thumbnail_width, top.width) // 2 * 2
    graph = (
        f"[0:V:0]split=2[a][b];"
        f"[a]scale={top.width}:{top.height},setsar=1[poster];"
        f"[b]scale={thumb_w}:-2,setsar=1[thumb]"
    )
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-y", "-ss", _fmt(poster_time_s(probe.duration_s))]
    argv += input_args(source, probe.format_name)
    argv += ["-filter_complex", graph, "-map_metadata", "-1"]
    for label, quality, name in (("[poster]", "3", POSTER_NAME), ("[thumb]", "4", THUMBNAIL_NAME)):
        argv += ["-map", label, "-frames:v", "1", "-q:v", quality, "-update", "1"]
        argv += [str(out_dir / name)]
    return argv
