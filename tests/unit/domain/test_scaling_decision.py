"""The scaling decision (SPEC §5): examples, then properties over every input."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vodforge.domain.scaling import (
    ScalingDecision,
    ScalingPolicy,
    decide_workers,
    worker_of_lease,
)

POLICY = ScalingPolicy(min_workers=0, max_workers=10, jobs_per_worker=2, scale_to_zero_after_s=600)


def desired(
    backlog: int,
    running: int = 0,
    busy: int = 0,
    idle_for_s: float | None = None,
    policy: ScalingPolicy = POLICY,
) -> int:
    return decide_workers(
        backlog=backlog,
        running=running,
        busy_workers=busy,
        idle_for_s=idle_for_s,
        policy=policy,
    ).desired_workers


def test_backlog_and_running_jobs_share_workers_by_concurrency() -> None:
    assert desired(backlog=3, running=2, busy=1) == 3  # ceil(5 / 2)
    assert desired(backlog=1) == 1
    assert desired(backlog=4) == 2


def test_in_flight_work_alone_needs_only_the_busy_workers() -> None:
    # The seeds' rule counted 5 in-flight messages as 5 machines to add; here 5 running jobs
    # on 5 busy workers with nothing waiting keep exactly those 5.
    one_each = ScalingPolicy(max_workers=10, jobs_per_worker=1)
    assert desired(backlog=0, running=5, busy=5, policy=one_each) == 5


def test_clamped_to_min_and_max() -> None:
    policy = ScalingPolicy(min_workers=2, max_workers=4, jobs_per_worker=1)
    decision = decide_workers(backlog=100, running=0, busy_workers=0, idle_for_s=0, policy=policy)
    assert decision.desired_workers == 4
    assert "capped at max 4" in decision.reason
    assert desired(backlog=1, policy=policy) == 2
    assert desired(backlog=0, idle_for_s=10_000, policy=policy) == 2


def test_never_below_busy_workers_even_over_max() -> None:
    policy = ScalingPolicy(max_workers=3, jobs_per_worker=4)
    # Six workers still run one job each (max was lowered under them): none is taken away.
    decision = decide_workers(backlog=0, running=6, busy_workers=6, idle_for_s=0, policy=policy)
    assert decision.desired_workers == 6
    assert "kept 6 busy" in decision.reason


def test_scale_to_zero_waits_for_a_stable_zero_period() -> None:
    assert desired(backlog=0, idle_for_s=30) == 1
    assert desired(backlog=0, idle_for_s=599.9) == 1
    assert desired(backlog=0, idle_for_s=600) == 0
    # No job ever existed: nothing to keep warm.
    assert desired(backlog=0, idle_for_s=None) == 0


def test_decision_json_has_the_spec_shape() -> None:
    decision = decide_workers(backlog=3, running=1, busy_workers=1, idle_for_s=None, policy=POLICY)
    assert set(decision.to_json()) == {
        "backlog",
        "running",
        "busy_workers",
        "desired_workers",
        "reason",
    }


def test_a_worker_with_two_busy_slots_is_one_worker() -> None:
    assert worker_of_lease("worker:host:12:ab12cd34/0") == "worker:host:12:ab12cd34"
    assert worker_of_lease("worker:host:12:ab12cd34/1") == "worker:host:12:ab12cd34"
    assert worker_of_lease("run-job:host:7:0011aabb") == "run-job:host:7:0011aabb"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_workers": -1},
        {"max_workers": 0},
        {"min_workers": 5, "max_workers": 4},
        {"jobs_per_worker": 0},
        {"scale_to_zero_after_s": -1},
    ],
)
def test_impossible_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ScalingPolicy(**kwargs)  # type: ignore[arg-type]


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        desired(backlog=-1)


@st.composite
def policies(draw: st.DrawFn) -> ScalingPolicy:
    low = draw(st.integers(0, 20))
    return ScalingPolicy(
        min_workers=low,
        max_workers=draw(st.integers(max(1, low), 40)),
        jobs_per_worker=draw(st.integers(1, 8)),
        scale_to_zero_after_s=draw(st.floats(0, 3600)),
    )


@dataclass(frozen=True)
class Case:
    backlog: int
    running: int
    busy_workers: int
    idle_for_s: float | None
    policy: ScalingPolicy

    def decide(self, extra_backlog: int = 0) -> ScalingDecision:
        return decide_workers(
            backlog=self.backlog + extra_backlog,
            running=self.running,
            busy_workers=self.busy_workers,
            idle_for_s=self.idle_for_s,
            policy=self.policy,
        )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    # Small counts often, so an idle fleet (all zero) is a common case, not a rare one.
    running = draw(st.integers(0, 2) | st.integers(0, 200))
    return Case(
        backlog=draw(st.integers(0, 2) | st.integers(0, 500)),
        running=running,
        # Busy workers hold the running jobs: at least one job each.
        busy_workers=draw(st.integers(0, running)),
        idle_for_s=draw(st.none() | st.floats(0, 10_000)),
        policy=draw(policies()),
    )


@given(cases())
def test_within_min_max_unless_busy_workers_exceed_max(case: Case) -> None:
    decision, policy = case.decide(), case.policy
    assert decision.desired_workers >= policy.min_workers
    if case.busy_workers <= policy.max_workers:
        assert decision.desired_workers <= policy.max_workers
    else:
        assert decision.desired_workers == case.busy_workers


@given(cases())
def test_never_below_busy_workers(case: Case) -> None:
    assert case.decide().desired_workers >= case.busy_workers


@given(cases(), st.integers(1, 100))
def test_monotone_in_backlog(case: Case, more: int) -> None:
    assert case.decide(extra_backlog=more).desired_workers >= case.decide().desired_workers


@given(cases())
def test_enough_slots_for_the_work_up_to_max(case: Case) -> None:
    decision, policy = case.decide(), case.policy
    slots = decision.desired_workers * policy.jobs_per_worker
    assert slots >= case.backlog + case.running or decision.desired_workers >= policy.max_workers


@given(cases())
def test_zero_exactly_when_idle_long_enough(case: Case) -> None:
    idle = case.backlog == 0 and case.running == 0 and case.busy_workers == 0
    long_enough = case.idle_for_s is None or case.idle_for_s >= case.policy.scale_to_zero_after_s
    expected_zero = idle and long_enough and case.policy.min_workers == 0
    assert (case.decide().desired_workers == 0) == expected_zero


@given(policies(), st.floats(0, 10_000))
def test_idle_fleet_keeps_one_worker_until_the_period_ends(
    policy: ScalingPolicy, idle_for: float
) -> None:
    case = Case(backlog=0, running=0, busy_workers=0, idle_for_s=idle_for, policy=policy)
    if idle_for < policy.scale_to_zero_after_s:
        assert case.decide().desired_workers == max(1, policy.min_workers)
    else:
        assert case.decide().desired_workers == policy.min_workers
