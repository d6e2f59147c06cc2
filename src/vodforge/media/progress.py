"""Incremental parser for ffmpeg `-progress` output (key=value blocks ending in progress=)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """One progress report: how far the output is and how fast it is getting there."""

    percent: float
    out_time_s: float
    fps: float | None
    speed: float | None
    eta_s: float | None
    done: bool


class ProgressParser:
    """Feed it lines; it returns a Progress at the end of each block, else None."""

    def __init__(self, duration_s: float) -> None:
        self.duration_s = duration_s
        self._block: dict[str, str] = {}
        self.last: Progress | None = None

    def feed(self, line: str) -> Progress | None:
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        key, value = key.strip(), value.strip()
        if key != "progress":
            self._block[key] = value
            return None
        block, self._block = self._block, {}
        progress = self._build(block, done=value == "end")
        self.last = progress
        return progress

    def _build(self, block: dict[str, str], *, done: bool) -> Progress:
        previous = self.last.out_time_s if self.last is not None else 0.0
        # With several outputs ffmpeg's out_time can step back a little between blocks; a
        # progress bar must not, so the report keeps the furthest time seen.
        out_time_s = max(previous, _out_time_s(block) or 0.0)
        if done:
            percent = 100.0
        elif self.duration_s > 0:
            percent = min(100.0, max(0.0, 100.0 * out_time_s / self.duration_s))
        else:
            percent = 0.0
        speed = _number(block.get("speed", "").rstrip("x"))
        eta_s: float | None = None
        if done:
            eta_s = 0.0
        elif speed and speed > 0 and self.duration_s > 0:
            eta_s = max(0.0, self.duration_s - out_time_s) / speed
        return Progress(
            percent=percent,
            out_time_s=out_time_s,
            fps=_number(block.get("fps", "")),
            speed=speed,
            eta_s=eta_s,
            done=done,
        )


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None  # "nan"/"inf" mean unknown


def _out_time_s(block: dict[str, str]) -> float | None:
    # out_time_ms is microseconds too (a long-standing ffmpeg quirk); prefer out_time_us.
    for key in ("out_time_us", "out_time_ms"):
        value = _number(block.get(key, ""))
        if value is not None:
            return value / 1_000_000
    text = block.get("out_time", "")
    parts = text.split(":")
    if len(parts) == 3:
        h, m, s = (_number(p) for p in parts)
        if h is not None and m is not None and s is not None:
            return h * 3600 + m * 60 + s
    return None
