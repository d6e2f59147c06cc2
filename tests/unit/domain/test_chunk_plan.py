"""The chunk plan: a partition of the source timeline on the segment grid, or nothing."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vodforge.domain.chunks import ChunkSpan, plan_chunks


def test_default_settings_cut_a_long_source_into_minute_chunks() -> None:
    spans = plan_chunks(600.5, chunk_s=60, min_duration_s=300)
    assert len(spans) == 10
    assert spans[0] == ChunkSpan(0, 0.0, 60.0)
    # 0.5 s left over is shorter than a segment: it joins the last chunk.
    assert spans[-1] == ChunkSpan(9, 540.0, 600.5)


def test_a_short_last_chunk_keeps_its_own_segments() -> None:
    spans = plan_chunks(28.5, chunk_s=8, min_duration_s=10)
    assert [(s.start_s, s.end_s) for s in spans] == [
        (0.0, 8.0),
        (8.0, 16.0),
        (16.0, 24.0),
        (24.0, 28.5),
    ]
    # 2 s left after the last whole chunk is less than a segment: the chunk before takes it.
    assert plan_chunks(26.0, chunk_s=8, min_duration_s=10)[-1] == ChunkSpan(2, 16.0, 26.0)


def test_chunk_length_is_rounded_down_to_whole_segments() -> None:
    spans = plan_chunks(40.0, chunk_s=10, min_duration_s=1)
    assert [s.start_s for s in spans] == [0.0, 8.0, 16.0, 24.0, 32.0]
    assert [s.start_s for s in plan_chunks(40.0, chunk_s=1, min_duration_s=1)][:3] == [0, 4, 8]


@pytest.mark.parametrize(
    ("duration_s", "chunk_s", "min_duration_s"),
    [
        (600.0, 0, 300),  # chunking disabled
        (600.0, 60, 0),  # disabled the other way
        (600.0, -5, 300),
        (300.0, 60, 300),  # not longer than the minimum
        (100.0, 60, 300),
        (62.0, 60, 30),  # one chunk and a remainder shorter than a segment
        (60.0, 60, 30),  # exactly one chunk
        (math.inf, 60, 30),
        (math.nan, 60, 30),
    ],
)
def test_no_chunks_when_chunking_does_not_apply(
    duration_s: float, chunk_s: float, min_duration_s: float
) -> None:
    assert plan_chunks(duration_s, chunk_s=chunk_s, min_duration_s=min_duration_s) == ()


def test_span_json_round_trip_ignores_extra_keys() -> None:
    span = ChunkSpan(3, 24.0, 26.5)
    assert span.to_json() == {"index": 3, "start_s": 24.0, "end_s": 26.5}
    assert ChunkSpan.from_json(span.to_json() | {"count": 4, "poster": False}) == span
    assert span.duration_s == 2.5


def test_segment_length_must_be_positive() -> None:
    with pytest.raises(ValueError, match="segment_s"):
        plan_chunks(600.0, chunk_s=60, min_duration_s=300, segment_s=0)


@settings(max_examples=500, deadline=None)
@given(
    duration_s=st.floats(min_value=0.0, max_value=6 * 3600.0, allow_nan=False),
    chunk_s=st.floats(min_value=-10.0, max_value=900.0, allow_nan=False),
    min_duration_s=st.floats(min_value=-10.0, max_value=600.0, allow_nan=False),
    segment_s=st.integers(min_value=1, max_value=10),
)
def test_chunks_partition_the_source_on_the_grid(
    duration_s: float, chunk_s: float, min_duration_s: float, segment_s: int
) -> None:
    spans = plan_chunks(
        duration_s, chunk_s=chunk_s, min_duration_s=min_duration_s, segment_s=segment_s
    )
    if chunk_s <= 0 or min_duration_s <= 0 or duration_s <= min_duration_s:
        assert spans == ()
        return
    if not spans:
        # Only when the whole source would be one chunk.
        step = max(1, math.floor(chunk_s / segment_s)) * segment_s
        assert duration_s < step + segment_s
        return
    assert len(spans) >= 2
    assert [s.index for s in spans] == list(range(len(spans)))
    assert spans[0].start_s == 0.0
    assert spans[-1].end_s == duration_s
    step = spans[0].end_s - spans[0].start_s
    for before, after in itertools.pairwise(spans):
        assert before.end_s == after.start_s  # contiguous: no gap, no overlap
    for span in spans:
        assert span.start_s % segment_s == 0  # on the keyframe/segment grid
        assert span.end_s > span.start_s
    for span in spans[:-1]:
        assert span.duration_s == step  # whole segments, all the same length
        assert step % segment_s == 0 and step <= max(chunk_s, segment_s)
    # The last chunk is at least one segment and less than a chunk plus a segment.
    assert segment_s <= spans[-1].duration_s < step + segment_s
