"""A chunked video's progress: the sum of its chunks', with how many run now.

Each child of the family keeps its own progress in telemetry (under its job id); the video
weighs every chunk by the seconds it covers, so a finished chunk counts whole and a running
one by its own percent. The stitch that follows is the last, short step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from vodforge.domain.states import JobKind, JobState
from vodforge.jobs.records import JobRecord

ReadProgress = Callable[[str], "dict[str, Any] | None"]


def family_progress(children: Sequence[JobRecord], read: ReadProgress) -> dict[str, Any]:
    """{percent, stage, eta_s, chunks: {total, done, running}} for a waiting parent."""
    chunks = [c for c in children if c.kind is JobKind.CHUNK]
    total_s = sum(_span_s(c) for c in chunks) or 1.0
    covered_s = 0.0
    done = running = 0
    etas: list[float] = []
    for chunk in chunks:
        if chunk.state is JobState.SUCCEEDED:
            done += 1
            covered_s += _span_s(chunk)
        elif chunk.state is JobState.RUNNING:
            running += 1
            progress = read(chunk.id) or {}
            percent = float(progress.get("percent") or 0.0)
            covered_s += _span_s(chunk) * min(100.0, max(0.0, percent)) / 100.0
            if isinstance(progress.get("eta_s"), int | float):
                etas.append(float(progress["eta_s"]))
    stitching = any(c.kind is JobKind.STITCH for c in children)
    waiting = any(c.state in (JobState.QUEUED, JobState.RETRY_WAIT) for c in chunks)
    # Stop short of 100 until the stitch has published: READY alone means done.
    percent = min(99.9, round(100.0 * covered_s / total_s, 1))
    return {
        "percent": percent,
        "stage": "upload" if stitching else "transcode",
        # Known only while every remaining chunk is running: then the slowest one bounds it.
        "eta_s": max(etas) if etas and not waiting and not stitching else None,
        "chunks": {"total": len(chunks), "done": done, "running": running},
    }


def _span_s(chunk: JobRecord) -> float:
    spec = chunk.spec or {}
    try:
        return max(0.0, float(spec["end_s"]) - float(spec["start_s"]))
    except (KeyError, TypeError, ValueError):
        return 0.0
