"""Time-to-READY of a chunked video on N workers, from one run's measured per-job times.

The family is claimed the way vodforge claims it: the split (the parent's probe and plan)
first, then its parts in creation order (the audio, then the chunks from the start), each
taken by whichever worker is free first; the stitch starts when the last part ends. Claim
latency and contention between workers sharing cores are not modelled: this is the
schedule's shape, given each job's own time.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FamilyTimes:
    split_s: float
    parts_s: tuple[float, ...]  # in claim order: the audio, then the chunks in order
    stitch_s: float

    @property
    def serial_s(self) -> float:
        return self.split_s + sum(self.parts_s) + self.stitch_s


def time_to_ready(times: FamilyTimes, workers: int) -> float:
    """Seconds from the split's start to READY with this many workers (list scheduling in
    claim order: each part goes to the worker that frees up first)."""
    if workers < 1:
        raise ValueError("at least one worker")
    free_at = [times.split_s] * workers
    heapq.heapify(free_at)
    for part in times.parts_s:
        heapq.heappush(free_at, heapq.heappop(free_at) + part)
    return max(free_at) + times.stitch_s


@dataclass(frozen=True)
class ScalingRow:
    workers: int
    ready_s: float
    speedup: float
    efficiency: float


def scaling_table(times: FamilyTimes, counts: Sequence[int]) -> list[ScalingRow]:
    """T(N), speedup T(1)/T(N) and efficiency T(1)/(N*T(N)) for each worker count."""
    one = time_to_ready(times, 1)
    rows = []
    for n in counts:
        t = time_to_ready(times, n)
        rows.append(ScalingRow(n, t, one / t, one / (n * t)))
    return rows


def scaled_family(
    times: FamilyTimes, measured_s: float, chunk_s: float, target_s: float, *, audio: bool = True
) -> FamilyTimes:
    """The family of a target_s source cut into chunk_s chunks, each costing the measured
    chunks' mean time per source second (the audio too: it is one job over the whole
    source); the split and the stitch as measured. An extrapolation, not a measurement."""
    chunk_parts = times.parts_s[1:] if audio else times.parts_s
    per_s = sum(chunk_parts) / measured_s
    count = max(1, round(target_s / chunk_s))
    chunks = tuple(per_s * target_s / count for _ in range(count))
    audio_part = (times.parts_s[0] * target_s / measured_s,) if audio else ()
    return FamilyTimes(times.split_s, audio_part + chunks, times.stitch_s)
