"""bench/chunked's time-to-READY simulation: list scheduling of a family in claim order."""

from __future__ import annotations

import pytest

from bench.chunked.sim import FamilyTimes, scaled_family, scaling_table, time_to_ready


def test_one_worker_runs_everything_in_turn() -> None:
    times = FamilyTimes(split_s=2.0, parts_s=(5.0, 10.0, 10.0, 4.0), stitch_s=1.0)
    assert time_to_ready(times, 1) == times.serial_s == 32.0


def test_parts_go_to_the_first_free_worker_in_claim_order() -> None:
    # Audio 5 s, then chunks 10, 10, 4: on 2 workers the audio's worker frees at 7 s and
    # takes the second chunk (ends 17 s); the other took the first chunk (ends 12 s), then
    # the third (ends 16 s). The stitch follows the last part.
    times = FamilyTimes(split_s=2.0, parts_s=(5.0, 10.0, 10.0, 4.0), stitch_s=1.0)
    assert time_to_ready(times, 2) == 18.0


def test_more_workers_than_parts_is_bounded_by_the_longest_part() -> None:
    times = FamilyTimes(split_s=2.0, parts_s=(5.0, 10.0, 10.0, 4.0), stitch_s=1.0)
    assert time_to_ready(times, 4) == time_to_ready(times, 16) == 13.0


def test_scaling_table_speedup_and_efficiency() -> None:
    times = FamilyTimes(split_s=0.0, parts_s=(1.0,) * 8, stitch_s=0.0)
    rows = scaling_table(times, [1, 2, 8, 16])
    assert [(r.workers, r.ready_s) for r in rows] == [(1, 8.0), (2, 4.0), (8, 1.0), (16, 1.0)]
    assert [r.speedup for r in rows] == [1.0, 2.0, 8.0, 8.0]
    assert [r.efficiency for r in rows] == [1.0, 1.0, 1.0, 0.5]


def test_no_workers_is_refused() -> None:
    with pytest.raises(ValueError):
        time_to_ready(FamilyTimes(0.0, (1.0,), 0.0), 0)


def test_scaled_family_keeps_the_cost_per_source_second() -> None:
    measured = FamilyTimes(split_s=1.0, parts_s=(2.0, 30.0, 30.0), stitch_s=0.5)  # 20 s
    scaled = scaled_family(measured, measured_s=20.0, chunk_s=10.0, target_s=60.0)
    assert scaled.split_s == 1.0 and scaled.stitch_s == 0.5
    assert scaled.parts_s == (6.0, 30.0, 30.0, 30.0, 30.0, 30.0, 30.0)
