"""The pure lifecycle rules: backoff, attempt limits, dead-letter decisions, video outcomes."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from vodforge.domain.deadletter import DeadLetterAction, decide_dead_letter
from vodforge.domain.retry import RetryPolicy, state_after_failure
from vodforge.domain.states import (
    ALLOWED_TRANSITIONS,
    TERMINAL_JOB_STATES,
    JobState,
    VideoStatus,
    video_status_for_terminal_job,
)


@given(attempt=st.integers(min_value=1, max_value=40), seed=st.integers())
def test_backoff_is_exponential_with_bounded_jitter_and_capped(attempt: int, seed: int) -> None:
    policy = RetryPolicy(base_s=10, cap_s=600, jitter=0.2)
    delay = policy.delay_s(attempt, random.Random(seed))
    nominal = 10 * 2 ** (attempt - 1)
    assert delay <= 600
    assert min(nominal * 0.8, 600) <= delay <= nominal * 1.2


def test_backoff_defaults_match_spec() -> None:
    rng = random.Random(1)
    delays = [RetryPolicy().delay_s(n, rng) for n in (1, 2, 3)]
    assert 8 <= delays[0] <= 12 and 16 <= delays[1] <= 24 and 32 <= delays[2] <= 48
    assert RetryPolicy().delay_s(12) == 600


def test_attempts_exhausted_means_dead() -> None:
    assert state_after_failure(4, 5) is JobState.RETRY_WAIT
    assert state_after_failure(5, 5) is JobState.DEAD


def test_dead_letter_decisions() -> None:
    decisions = {state: decide_dead_letter(state) for state in JobState}
    assert decisions == {
        JobState.QUEUED: DeadLetterAction.MARK_DEAD,
        JobState.RETRY_WAIT: DeadLetterAction.MARK_DEAD,
        JobState.RUNNING: DeadLetterAction.RUNNING_ALERT_ONLY,
        JobState.SUCCEEDED: DeadLetterAction.ALREADY_TERMINAL,
        JobState.DEAD: DeadLetterAction.ALREADY_TERMINAL,
        JobState.FAILED: DeadLetterAction.ALREADY_TERMINAL,
        JobState.CANCELLED: DeadLetterAction.ALREADY_TERMINAL,
    }


def test_terminal_states_have_no_way_out() -> None:
    for source, _target in ALLOWED_TRANSITIONS:
        assert source not in TERMINAL_JOB_STATES


def test_video_outcome_of_terminal_jobs() -> None:
    assert video_status_for_terminal_job(JobState.SUCCEEDED) is VideoStatus.READY
    assert video_status_for_terminal_job(JobState.CANCELLED) is VideoStatus.CANCELLED
    assert video_status_for_terminal_job(JobState.DEAD) is VideoStatus.FAILED
    assert video_status_for_terminal_job(JobState.FAILED) is VideoStatus.FAILED
