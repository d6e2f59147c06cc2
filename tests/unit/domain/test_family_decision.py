"""The family decision of chunked encoding (domain.family): examples, then properties over
every mix of children's states."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from vodforge.domain.family import ChildView, FamilyDecision, decide_family
from vodforge.domain.states import TERMINAL_JOB_STATES, JobKind, JobState

BAD = (JobState.FAILED, JobState.DEAD, JobState.CANCELLED)
LIVE = (JobState.QUEUED, JobState.RUNNING, JobState.RETRY_WAIT)


def child(
    id: str,
    state: JobState,
    *,
    kind: JobKind = JobKind.CHUNK,
    at: float | None = None,
    flagged: bool = False,
) -> ChildView:
    finished = at if at is not None else (100.0 if state in TERMINAL_JOB_STATES else None)
    return ChildView(
        id=id,
        kind=kind,
        state=state,
        cancel_requested=flagged or state is JobState.CANCELLED,
        finished_at=finished,
    )


def parts(*states: JobState) -> list[ChildView]:
    """An audio job then one chunk per further state."""
    kinds = [JobKind.AUDIO] + [JobKind.CHUNK] * (len(states) - 1)
    return [child(f"c{n}", s, kind=k) for n, (s, k) in enumerate(zip(states, kinds, strict=True))]


# -- examples ----------------------------------------------------------------------------------


def test_no_children_means_nothing_to_decide() -> None:
    assert decide_family(False, []) == FamilyDecision()
    assert decide_family(True, []) == FamilyDecision()


def test_every_part_succeeded_starts_the_stitch() -> None:
    S = JobState.SUCCEEDED
    assert decide_family(False, parts(S, S, S)) == FamilyDecision(start_stitch=True)


def test_a_part_still_working_means_wait() -> None:
    for live in LIVE:
        assert decide_family(False, parts(JobState.SUCCEEDED, live)) == FamilyDecision()


def test_the_stitch_is_started_once() -> None:
    S = JobState.SUCCEEDED
    for stitch_state in (JobState.QUEUED, JobState.RUNNING, JobState.RETRY_WAIT, S):
        children = [*parts(S, S), child("st", stitch_state, kind=JobKind.STITCH)]
        assert decide_family(False, children) == FamilyDecision()


def test_a_failed_part_cancels_the_live_ones_and_waits_for_them() -> None:
    children = [
        child("a", JobState.SUCCEEDED, kind=JobKind.AUDIO),
        child("c0", JobState.FAILED),
        child("c1", JobState.RUNNING),
        child("c2", JobState.QUEUED),
        child("c3", JobState.RUNNING, flagged=True),
        child("c4", JobState.RETRY_WAIT),
    ]
    decision = decide_family(False, children)
    assert decision.cancel == ("c1", "c2", "c4")
    assert decision.end_state is None and not decision.start_stitch
    assert decision.cause == children[1]


def test_once_no_part_is_live_the_parent_takes_the_failed_parts_state() -> None:
    for bad in (JobState.FAILED, JobState.DEAD):
        children = [
            child("a", JobState.SUCCEEDED, kind=JobKind.AUDIO),
            child("c0", bad, at=10.0),
            child("c1", JobState.CANCELLED, at=11.0),
        ]
        decision = decide_family(False, children)
        assert decision == FamilyDecision(end_state=bad, cause=children[1])


def test_the_first_failure_is_the_cause() -> None:
    children = [child("c0", JobState.DEAD, at=20.0), child("c1", JobState.FAILED, at=10.0)]
    assert decide_family(False, children).cause == children[1]
    assert decide_family(False, children).end_state is JobState.FAILED


def test_a_failure_outranks_the_cancels_it_caused_at_the_same_instant() -> None:
    """Regression: the siblings a failure cancels are ended in the same instant by a frozen
    or coarse clock; the tie was broken by id, so a sibling whose id sorted first made a
    failed video CANCELLED."""
    children = [child("0-sibling", JobState.CANCELLED, at=5.0), child("z-chunk", JobState.FAILED)]
    children[1] = child("z-chunk", JobState.FAILED, at=5.0)
    decision = decide_family(False, children)
    assert (decision.end_state, decision.cause) == (JobState.FAILED, children[1])


def test_a_failure_outranks_a_cancel_recorded_earlier_on_another_clock() -> None:
    """Regression: a worker whose clock is behind records its cancelled part as finishing
    before the failure that caused the cancel."""
    children = [child("c0", JobState.CANCELLED, at=3.0), child("c1", JobState.DEAD, at=5.0)]
    assert decide_family(False, children).end_state is JobState.DEAD


def test_a_cancelled_part_alone_ends_the_family_cancelled() -> None:
    children = [child("c0", JobState.SUCCEEDED), child("c1", JobState.CANCELLED)]
    assert decide_family(False, children) == FamilyDecision(
        end_state=JobState.CANCELLED, cause=children[1]
    )


def test_the_parents_cancel_stops_every_part_then_ends_cancelled() -> None:
    S, R, Q = JobState.SUCCEEDED, JobState.RUNNING, JobState.QUEUED
    assert decide_family(True, parts(S, R, Q)).cancel == ("c1", "c2")
    assert decide_family(True, parts(S, R, Q)).end_state is None
    # Even every part having succeeded: the cancel came before the stitch published.
    assert decide_family(True, parts(S, S)) == FamilyDecision(end_state=JobState.CANCELLED)
    children = parts(S, JobState.FAILED, JobState.CANCELLED)
    assert decide_family(True, children).end_state is JobState.CANCELLED


def test_a_flagged_part_is_not_cancelled_again() -> None:
    children = [child("c0", JobState.RUNNING, flagged=True)]
    assert decide_family(True, children) == FamilyDecision()


# -- properties --------------------------------------------------------------------------------

# Pure code taking microseconds; no deadline, so a loaded machine cannot fail it.
properties = settings(deadline=None)
ids = st.sampled_from([f"c{n}" for n in range(12)])


@st.composite
def child_views(draw: st.DrawFn) -> ChildView:
    state = draw(st.sampled_from(list(JobState)))
    terminal = state in TERMINAL_JOB_STATES
    return ChildView(
        id=draw(ids),
        kind=draw(st.sampled_from([JobKind.CHUNK, JobKind.AUDIO])),
        state=state,
        # Any flag on a live part; a CANCELLED part was always flagged.
        cancel_requested=state is JobState.CANCELLED or (not terminal and draw(st.booleans())),
        finished_at=draw(st.sampled_from([1.0, 2.0, 3.0])) if terminal else None,
    )


@st.composite
def families(draw: st.DrawFn) -> list[ChildView]:
    children = draw(st.lists(child_views(), max_size=8, unique_by=lambda c: c.id))
    if draw(st.booleans()):
        stitch = draw(child_views())
        children.append(
            ChildView(
                id="stitch",
                kind=JobKind.STITCH,
                state=stitch.state,
                cancel_requested=stitch.cancel_requested,
                finished_at=stitch.finished_at,
            )
        )
    return children


def is_live(c: ChildView) -> bool:
    return c.state not in TERMINAL_JOB_STATES


@properties
@given(cancel=st.booleans(), children=families())
def test_never_stitches_when_a_part_is_bad_or_a_cancel_was_asked(
    cancel: bool, children: list[ChildView]
) -> None:
    decision = decide_family(cancel, children)
    if decision.start_stitch:
        assert not cancel
        assert not any(c.state in BAD for c in children)
        assert not any(c.kind is JobKind.STITCH for c in children)
        workers = [c for c in children if c.kind is not JobKind.STITCH]
        assert workers and all(c.state is JobState.SUCCEEDED for c in workers)
        assert decision.cancel == () and decision.end_state is None


@properties
@given(cancel=st.booleans(), children=families())
def test_stitches_exactly_when_every_part_succeeded_and_none_exists(
    cancel: bool, children: list[ChildView]
) -> None:
    workers = [c for c in children if c.kind is not JobKind.STITCH]
    expected = (
        not cancel
        and bool(workers)
        and all(c.state is JobState.SUCCEEDED for c in workers)
        and not any(c.kind is JobKind.STITCH for c in children)
    )
    assert decide_family(cancel, children).start_stitch is expected


@properties
@given(cancel=st.booleans(), children=families())
def test_never_ends_the_parent_while_a_child_is_live(
    cancel: bool, children: list[ChildView]
) -> None:
    decision = decide_family(cancel, children)
    if any(is_live(c) for c in children):
        assert decision.end_state is None
    if decision.end_state is not None:
        assert decision.end_state in BAD and decision.cancel == ()


@properties
@given(cancel=st.booleans(), children=families())
def test_ends_once_a_stopped_family_has_no_live_child(
    cancel: bool, children: list[ChildView]
) -> None:
    stopping = cancel or any(c.state in BAD for c in children)
    done = children and not any(is_live(c) for c in children)
    assert (decide_family(cancel, children).end_state is not None) == bool(stopping and done)


@properties
@given(cancel=st.booleans(), children=families())
def test_ends_cancelled_iff_a_cancel_was_asked_or_every_bad_child_was_cancelled(
    cancel: bool, children: list[ChildView]
) -> None:
    decision = decide_family(cancel, children)
    if decision.end_state is None:
        return
    failures = [c for c in children if c.state in (JobState.FAILED, JobState.DEAD)]
    assert (decision.end_state is JobState.CANCELLED) == (cancel or not failures)
    if decision.end_state is not JobState.CANCELLED:
        # The parent takes the state of its first failure, which is the cause.
        first = min(failures, key=lambda c: (c.finished_at, c.id))
        assert decision.cause == first and decision.end_state is first.state


@properties
@given(cancel=st.booleans(), children=families())
def test_cancels_exactly_the_live_unflagged_children_of_a_stopped_family(
    cancel: bool, children: list[ChildView]
) -> None:
    decision = decide_family(cancel, children)
    stopping = cancel or any(c.state in BAD for c in children)
    expected = [c.id for c in children if is_live(c) and not c.cancel_requested]
    assert list(decision.cancel) == (expected if stopping else [])
    if not stopping:
        assert decision.end_state is None and decision.cause is None


@properties
@given(cancel=st.booleans(), children=families(), seed=st.integers())
def test_the_order_children_are_read_in_does_not_matter(
    cancel: bool, children: list[ChildView], seed: int
) -> None:
    shuffled = children[:]
    random.Random(seed).shuffle(shuffled)
    a, b = decide_family(cancel, children), decide_family(cancel, shuffled)
    assert (a.start_stitch, a.end_state, a.cause) == (b.start_stitch, b.end_state, b.cause)
    assert sorted(a.cancel) == sorted(b.cancel)


@properties
@given(cancel=st.booleans(), children=families())
def test_applying_the_cancels_leads_to_an_end(cancel: bool, children: list[ChildView]) -> None:
    """What the repository does: cancel the waiting children at once, flag the running ones,
    let those end CANCELLED, and decide again: the family always ends, never stitches."""
    decision = decide_family(cancel, children)
    if not decision.cancel:
        return
    after = [
        ChildView(c.id, c.kind, JobState.CANCELLED, True, 9.0) if is_live(c) else c
        for c in children
    ]
    final = decide_family(cancel, after)
    assert final.end_state is not None and not final.start_stitch and final.cancel == ()
