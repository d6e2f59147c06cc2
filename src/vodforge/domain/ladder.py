"""Plans the rendition ladder for a source: which sizes, frame rate and bitrates to encode.

Pure code, no I/O. The rules:

* A rung is named for the *short side* of the display frame ("720p" is 1280x720 for a
  landscape source and 720x1280 for a portrait one), so portrait and landscape uploads of
  the same quality get the same ladder.
* Never upscale: a rung is used only when the source's short side reaches it. A source up
  to 5 % short of a rung (1916x1076, 1920x1072 crops) still gets that rung, at its own size.
* A source smaller than the smallest rung gets one rendition at its own size.
* Dimensions are even (H.264 4:2:0 needs it) and keep the display aspect ratio.
* The frame rate is divided by the smallest whole number that brings it to 60 or less, so
  the cadence stays even (120 -> 60, 100 -> 50, 50 stays 50).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MAX_FPS = 60.0
FALLBACK_FPS = 30.0
RUNG_TOLERANCE = 0.05
DEFAULT_CRF = 21
MIN_BITRATE_KBPS = 150
HIGH_FPS_BITRATE_FACTOR = 1.5


@dataclass(frozen=True)
class Rung:
    """One step of the ladder: the short side it targets and its bitrate cap at <=30 fps."""

    short_side: int
    maxrate_kbps: int
    crf: int = DEFAULT_CRF

    @property
    def name(self) -> str:
        return f"{self.short_side}p"


DEFAULT_RUNGS: tuple[Rung, ...] = (
    Rung(1080, 5000),
    Rung(720, 2800),
    Rung(480, 1400),
    Rung(360, 800),
)


@dataclass(frozen=True)
class Rendition:
    """One output variant: H.264 video of this size and rate, plus AAC audio if any."""

    name: str
    width: int
    height: int
    fps: float
    video_bitrate_kbps: int  # the -maxrate cap on the capped-CRF encode
    crf: int
    audio: bool

    @property
    def bufsize_kbps(self) -> int:
        return 2 * self.video_bitrate_kbps


def output_fps(source_fps: float, cap: float = MAX_FPS) -> float:
    """The source rate divided by the smallest whole number that brings it under the cap."""
    if not source_fps > 0 or math.isinf(source_fps):
        return FALLBACK_FPS
    divisor = max(1, math.ceil(source_fps / cap - 1e-9))
    return source_fps if divisor == 1 else round(source_fps / divisor, 3)


def _even_down(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def _even_near(value: float, ceiling: int) -> int:
    return max(2, min(round(value / 2) * 2, _even_down(ceiling)))


def plan_ladder(
    width: int,
    height: int,
    fps: float,
    has_audio: bool,
    rungs: Sequence[Rung] = DEFAULT_RUNGS,
) -> tuple[Rendition, ...]:
    """Plan renditions (highest first) for a source of this display size and frame rate."""
    if width < 2 or height < 2:
        raise ValueError(f"cannot plan a ladder for a {width}x{height} frame")
    if not rungs:
        raise ValueError("at least one rung is required")
    rate = output_fps(fps)
    factor = HIGH_FPS_BITRATE_FACTOR if rate > 31 else 1.0
    short, long_ = min(width, height), max(width, height)
    landscape = width >= height
    chosen: list[tuple[str, int, int, int]] = []  # name, short side, maxrate, crf
    for rung in sorted(rungs, key=lambda r: r.short_side, reverse=True):
        if short >= rung.short_side * (1 - RUNG_TOLERANCE):
            target = min(rung.short_side, _even_down(short))
            chosen.append((rung.name, target, rung.maxrate_kbps, rung.crf))
    if not chosen:
        smallest = min(rungs, key=lambda r: r.short_side)
        target = _even_down(short)
        share = (target / smallest.short_side) ** 2
        rate_kbps = max(MIN_BITRATE_KBPS, round(smallest.maxrate_kbps * share))
        chosen.append((f"{target}p", target, rate_kbps, smallest.crf))
    renditions: list[Rendition] = []
    for name, target_short, maxrate, crf in chosen:
        target_long = _even_near(target_short * long_ / short, long_)
        w, h = (target_long, target_short) if landscape else (target_short, target_long)
        if any(r.width == w and r.height == h for r in renditions):
            continue  # two rungs collapsed onto the same size near the tolerance
        renditions.append(
            Rendition(
                name=name,
                width=w,
                height=h,
                fps=rate,
                video_bitrate_kbps=round(maxrate * factor),
                crf=crf,
                audio=has_audio,
            )
        )
    return tuple(renditions)
