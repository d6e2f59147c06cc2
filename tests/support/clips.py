"""Generates small test videos with ffmpeg's lavfi sources (testsrc2 picture, sine audio).

Fixtures are made by the ffmpeg the product uses (PATH first, else the bundled one), except
where a fixture needs a newer ffmpeg than the one on PATH: then the bundled imageio-ffmpeg
build makes it, so the tests run on a machine whose system ffmpeg is old (Debian 12: 5.1).
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from vodforge.media.capabilities import Version, parse_version
from vodforge.media.ffmpeg import find_ffmpeg

CODEC_FOR_CONTAINER = {"mp4": "libx264", "mov": "libx264", "mkv": "libx264", "ts": "libx264"}
# -display_rotation (a display matrix on an input, kept by stream copy) came with ffmpeg 6.0.
DISPLAY_ROTATION: Version = (6, 0, 0)


def ffmpeg_exe() -> str:
    return find_ffmpeg()


@functools.cache
def ffmpeg_for(minimum: Version | None = None) -> str:
    """The product's ffmpeg when it is at least `minimum`, else the bundled build."""
    found = find_ffmpeg()
    if minimum is None:
        return found
    done = subprocess.run(
        [found, "-hide_banner", "-version"], capture_output=True, text=True, timeout=30
    )
    version = parse_version(done.stdout.partition("\n")[0])
    if version is None or version >= minimum:  # None: a build from git master, newest there is
        return found
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def run_ffmpeg(*args: str, needs: Version | None = None) -> None:
    """Run ffmpeg for a fixture (one at least `needs`, when given); fail loudly with its
    stderr if it does not succeed."""
    argv = [ffmpeg_for(needs), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"fixture ffmpeg failed ({done.returncode}): {done.stderr[-2000:]}")


def make_clip(
    path: Path,
    *,
    width: int,
    height: int,
    fps: float,
    duration_s: float,
    audio: bool = True,
    rotate: int | None = None,
    pix_fmt: str | None = None,
    vfr: bool = False,
    container: str = "mp4",
    faststart: bool = False,
    preset: str = "ultrafast",
) -> Path:
    """Write a clip to path and return it.

    rotate is clockwise degrees a player must turn the stored picture (stored as display
    matrix side data, like a phone held upright). vfr drops two of every three frames after
    the first second, so frame spacing changes mid-stream.
    """
    if container not in CODEC_FOR_CONTAINER:
        raise ValueError(f"unsupported fixture container {container!r}")
    target = path if rotate is None else path.with_name(f"unrotated-{path.name}")
    odd = width % 2 or height % 2
    # testsrc2 only makes even sizes; an odd one is scaled down and needs 4:4:4 in H.264.
    source_size = f"{width + width % 2}x{height + height % 2}"
    args = ["-f", "lavfi", "-i", f"testsrc2=size={source_size}:rate={fps}:d={duration_s}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:d={duration_s}"]
    filters = [f"scale={width}:{height}", "setsar=1"] if odd else []
    if vfr:
        filters.append("select='lt(t,1)+not(mod(n,3))'")
        args += ["-fps_mode", "vfr"]
    if filters:
        args += ["-vf", ",".join(filters)]
    args += ["-c:v", CODEC_FOR_CONTAINER[container], "-preset", preset]
    args += ["-pix_fmt", pix_fmt or ("yuv444p" if odd else "yuv420p")]
    if audio:
        args += ["-c:a", "aac", "-b:a", "64k"]
    if faststart and container in ("mp4", "mov"):
        args += ["-movflags", "+faststart"]
    run_ffmpeg(*args, "-t", str(duration_s), str(target))
    if rotate is not None:
        # -display_rotation counts anticlockwise; stream copy keeps the pixels as stored.
        run_ffmpeg(
            "-display_rotation", str(-rotate), "-i", str(target), "-c", "copy", str(path),
            needs=DISPLAY_ROTATION,
        )  # fmt: skip
        target.unlink()
    return path


def make_audio_only(path: Path, *, duration_s: float = 1.0) -> Path:
    run_ffmpeg(
        "-f", "lavfi", "-i", f"sine=frequency=440:d={duration_s}", "-c:a", "aac", str(path)
    )  # fmt: skip
    return path


def make_huge_frame(path: Path, *, width: int = 16000, height: int = 16000) -> Path:
    """One MJPEG frame of a giant size in a QuickTime file (cheap to write, costly to decode)."""
    run_ffmpeg(
        "-f", "lavfi", "-i", f"color=c=gray:size={width}x{height}:rate=1:d=1",
        "-frames:v", "1", "-c:v", "mjpeg", str(path),
    )  # fmt: skip
    return path
