"""Which sources a job splits into chunk and audio jobs, and what each child is told."""

from __future__ import annotations

from typing import Any

from vodforge.domain.limits import InputLimits
from vodforge.domain.states import JobKind
from vodforge.media.probe_header import ProbeResult
from vodforge.pipeline.chunked import plan_children
from vodforge.pipeline.context import WorkDeps


def _probe(**changes: Any) -> ProbeResult:
    fields: dict[str, Any] = {
        "format_name": "mov",
        "duration_s": 602.0,
        "width": 1920,
        "height": 1080,
        "coded_width": 1920,
        "coded_height": 1080,
        "rotation": 0,
        "fps": 30.0,
        "is_vfr": False,
        "video_codec": "h264",
        "pix_fmt": "yuv420p",
        "bit_depth": 8,
        "has_audio": True,
        "audio_codec": "aac",
        "size_bytes": 10**8,
    }
    fields.update(changes)
    return ProbeResult(**fields)


def _deps(chunk_s: float = 60.0, min_s: float = 300.0) -> WorkDeps:
    # The planning reads only the thresholds; the other parts are never touched.
    return WorkDeps(
        jobs=None,  # type: ignore[arg-type]
        videos=None,  # type: ignore[arg-type]
        storage=None,  # type: ignore[arg-type]
        telemetry=None,  # type: ignore[arg-type]
        limits=InputLimits(),
        chunk_s=chunk_s,
        chunk_min_duration_s=min_s,
    )


def test_a_long_mp4_gets_the_audio_first_then_its_chunks_in_order() -> None:
    children = plan_children(_deps(), _probe())
    assert [c.kind for c in children] == [JobKind.AUDIO] + [JobKind.CHUNK] * 10
    spans = [(c.spec["index"], c.spec["start_s"], c.spec["end_s"]) for c in children[1:]]
    assert spans[0] == (0, 0.0, 60.0) and spans[-1] == (9, 540.0, 602.0)
    assert all(c.spec["count"] == 10 for c in children[1:])
    # The poster's frame (10 % in: 60.2 s) is in exactly one chunk, which makes the images.
    assert [c.spec["index"] for c in children[1:] if c.spec["poster"]] == [1]


def test_no_audio_job_without_audio() -> None:
    kinds = [c.kind for c in plan_children(_deps(), _probe(has_audio=False))]
    assert kinds == [JobKind.CHUNK] * 10


def test_short_disabled_vfr_and_unindexed_sources_are_one_job() -> None:
    assert plan_children(_deps(), _probe(duration_s=300.0)) == ()
    assert plan_children(_deps(chunk_s=0), _probe()) == ()
    assert plan_children(_deps(min_s=0), _probe()) == ()
    assert plan_children(_deps(), _probe(is_vfr=True)) == ()
    assert plan_children(_deps(), _probe(format_name="mpegts")) == ()
    assert plan_children(_deps(), _probe(format_name="matroska")) == ()
