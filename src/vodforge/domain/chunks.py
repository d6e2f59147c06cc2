"""Plans how a long source is cut into chunks that separate jobs encode in parallel.

Pure code, no I/O. Every cut is on the segment grid (whole HLS segments, so also on the 2 s
keyframe grid), which lets each chunk's segments join the others' without re-encoding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ChunkSpan:
    """One chunk of the source timeline: [start_s, end_s), in seconds from the source start."""

    index: int
    start_s: float  # inclusive, a multiple of the segment duration
    end_s: float  # exclusive; the source duration for the last chunk

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "start_s": self.start_s, "end_s": self.end_s}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChunkSpan:
        """Read the three fields back; other keys (a job's spec carries more) are ignored."""
        return cls(int(data["index"]), float(data["start_s"]), float(data["end_s"]))


def plan_chunks(
    duration_s: float, *, chunk_s: float, min_duration_s: float, segment_s: int = 4
) -> tuple[ChunkSpan, ...]:
    """The chunks of a source, or () when it is encoded in one piece.

    () when chunking is disabled (chunk_s or min_duration_s <= 0), the source is not longer
    than min_duration_s, or it would make a single chunk. chunk_s is rounded down to whole
    segments (at least one); the last chunk takes the remainder, and a remainder shorter
    than one segment joins the chunk before it.
    """
    if segment_s < 1:
        raise ValueError(f"segment_s must be a positive whole number, not {segment_s}")
    if chunk_s <= 0 or min_duration_s <= 0 or not math.isfinite(duration_s):
        return ()
    if duration_s <= min_duration_s:
        return ()
    step = max(1, math.floor(chunk_s / segment_s)) * segment_s
    starts = list(range(0, math.ceil(duration_s / step) * step, step))
    while starts and starts[-1] >= duration_s:
        starts.pop()  # ceil() of a float can overshoot by one step
    if len(starts) > 1 and duration_s - starts[-1] < segment_s:
        starts.pop()
    if len(starts) < 2:
        return ()
    ends = [*starts[1:], duration_s]
    return tuple(
        ChunkSpan(index, float(start), float(end))
        for index, (start, end) in enumerate(zip(starts, ends, strict=True))
    )
