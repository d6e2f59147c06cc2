"""A synthetic test clip (colour bars, a moving pattern and a tone) for trying vodforge out."""

from __future__ import annotations

from pathlib import Path

from vodforge.errors import VodforgeError
from vodforge.process import run_child


def sample_argv(
    ffmpeg: str, out: Path, *, seconds: float = 10.0, width: int = 1280, height: int = 720
) -> list[str]:
    return [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={width}x{height}:rate=30:duration={seconds}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-shortest",
        "-movflags",
        "+faststart",
        str(out),
    ]


def make_sample(ffmpeg: str, out: Path, seconds: float = 10.0) -> Path:
    result = run_child(sample_argv(ffmpeg, out, seconds=seconds), timeout_s=120)
    if result.returncode != 0:
        raise VodforgeError(f"ffmpeg could not write the sample: {result.stderr_tail[-300:]}")
    return out
