"""What a chunked video's family of jobs does next, decided from its children's states.

Pure code. The parent (the video's job) waits RUNNING without a lease while its children
work; every change to a child makes the repository ask this module what follows:

* a child ended FAILED, DEAD or CANCELLED, or the parent's cancel was requested: every live
  child is cancelled, and once none is live the parent ends (CANCELLED for a cancel, else
  the failed child's state, so the video FAILED with that child's reason);
* every chunk and the audio SUCCEEDED and there is no stitch yet: start the stitch;
* otherwise wait. The stitch's own success ends the parent in the transaction that
  publishes, so it is never decided here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vodforge.domain.states import TERMINAL_JOB_STATES, JobKind, JobState

_BAD_ENDS = (JobState.FAILED, JobState.DEAD, JobState.CANCELLED)


@dataclass(frozen=True)
class ChildView:
    id: str
    kind: JobKind
    state: JobState
    cancel_requested: bool
    finished_at: float | None = None


@dataclass(frozen=True)
class FamilyDecision:
    cancel: tuple[str, ...] = ()  # live children to cancel
    start_stitch: bool = False
    end_state: JobState | None = None  # the parent's terminal state, once decided
    cause: ChildView | None = None  # the child whose ending ends the family


def decide_family(parent_cancel_requested: bool, children: Sequence[ChildView]) -> FamilyDecision:
    """The next step for a waiting parent with these children (none: nothing to decide)."""
    if not children:
        return FamilyDecision()
    # The cause is the first FAILED or DEAD child, and a CANCELLED one only when there is
    # none: a flagged child can only end CANCELLED, so a failure is never a cancel's
    # consequence, while the siblings a failure cancels may record the same finished_at (a
    # coarse or frozen clock) or an earlier one (another worker's clock, behind).
    bad = sorted(
        (c for c in children if c.state in _BAD_ENDS),
        key=lambda c: (
            c.state is JobState.CANCELLED,
            c.finished_at if c.finished_at is not None else float("inf"),
            c.id,
        ),
    )
    cause = bad[0] if bad else None
    live = [c for c in children if c.state not in TERMINAL_JOB_STATES]
    if parent_cancel_requested or cause is not None:
        to_cancel = tuple(c.id for c in live if not c.cancel_requested)
        if live:
            return FamilyDecision(cancel=to_cancel, cause=cause)
        if parent_cancel_requested or (cause is not None and cause.state is JobState.CANCELLED):
            return FamilyDecision(end_state=JobState.CANCELLED, cause=cause)
        assert cause is not None
        return FamilyDecision(end_state=cause.state, cause=cause)
    workers = [c for c in children if c.kind is not JobKind.STITCH]
    has_stitch = any(c.kind is JobKind.STITCH for c in children)
    if workers and not has_stitch and all(c.state is JobState.SUCCEEDED for c in workers):
        return FamilyDecision(start_stitch=True)
    return FamilyDecision()
