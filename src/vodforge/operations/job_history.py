"""What the job history says about finished work, for metrics: attempts that ended (how long
they ran, how much media they covered) and leases the scanner took back.

It reads job_events, the record every actor writes (API, scheduler, `vodforge worker`
processes, `run-job` containers on Batch), so one API process sees the whole fleet's work,
including runs too short-lived to be scraped themselves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, Select, and_, func, select

from vodforge.db.access import reading
from vodforge.db.tables import job_events, jobs, videos
from vodforge.domain.states import CLAIMABLE_JOB_STATES, JobState

LEASE_EXPIRED = "lease expired"  # the scanner's transition reason (jobs/queries.sql)


@dataclass(frozen=True)
class EndedAttempt:
    """One RUNNING period that ended: as `ended_as`, after `ran_s` seconds, over a video of
    `media_s` seconds (None when not probed yet)."""

    event_id: int
    job_id: str
    ended_as: JobState
    reason: str | None
    ran_s: float | None
    media_s: float | None

    @property
    def lease_recovered(self) -> bool:
        return self.reason == LEASE_EXPIRED

    @property
    def speed(self) -> float | None:
        """Media seconds per wall-clock second of a successful attempt (× realtime)."""
        if self.ended_as is not JobState.SUCCEEDED or not self.media_s or not self.ran_s:
            return None
        return self.media_s / self.ran_s


def _ended_attempts_after(after: int, batch: int) -> Select:
    """Events that end a RUNNING period, after event id `after`, with when that period began
    (the claim: its latest QUEUED/RETRY_WAIT -> RUNNING event before this one)."""
    ended = job_events.alias("ended")
    claim = job_events.alias("claim")
    started_at = (
        select(func.max(claim.c.at))
        .where(
            claim.c.job_id == ended.c.job_id,
            claim.c.id < ended.c.id,
            claim.c.to_state == JobState.RUNNING.value,
            claim.c.from_state.in_([state.value for state in CLAIMABLE_JOB_STATES]),
        )
        .scalar_subquery()
    )
    return (
        select(
            ended.c.id,
            ended.c.job_id,
            ended.c.at,
            ended.c.to_state,
            ended.c.reason,
            started_at.label("started_at"),
            videos.c.duration_s,
        )
        .join(jobs, jobs.c.id == ended.c.job_id)
        .join(videos, videos.c.id == jobs.c.video_id)
        .where(
            ended.c.id > after,
            # RUNNING -> RUNNING is a cancel request, not an end.
            and_(
                ended.c.from_state == JobState.RUNNING.value,
                ended.c.to_state != JobState.RUNNING.value,
            ),
        )
        .order_by(ended.c.id)
        .limit(batch)
    )


class AttemptFeed:
    """Follows job_events and hands out each ended attempt once.

    Event ids come from a sequence, and on PostgreSQL a transaction may commit an id lower
    than one already read, so the feed re-reads the last `lag_s` seconds of ids and skips the
    ones it has handed out; only an event whose transaction stayed open longer than that is
    missed. It starts at the events of the last `lag_s` seconds: counters start at zero
    with the process, as Prometheus expects.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        lag_s: float = 60.0,
        batch: int = 5000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.lag_s = lag_s
        self.batch = batch
        self.clock = clock
        self._after: int | None = None
        self._seen: dict[int, float] = {}
        # Scrapes may overlap (each runs on a thread of the pool): one reads at a time.
        self._lock = threading.Lock()

    def read(self) -> list[EndedAttempt]:
        with self._lock:
            now = self.clock()
            with reading(self.engine) as conn:
                if self._after is None:
                    newest = conn.execute(select(func.max(job_events.c.id))).scalar()
                    self._after = max(0, int(newest or 0) - self.batch)
                    horizon = now - self.lag_s
                else:
                    horizon = float("-inf")
                rows = conn.execute(_ended_attempts_after(self._after, self.batch)).all()
            found = []
            for row in rows:
                if row.id in self._seen:
                    continue
                self._seen[row.id] = row.at
                if row.at < horizon:
                    continue  # ended before this process began to follow
                ran = None if row.started_at is None else max(0.0, row.at - row.started_at)
                found.append(
                    EndedAttempt(
                        event_id=row.id,
                        job_id=row.job_id,
                        ended_as=JobState(row.to_state),
                        reason=row.reason,
                        ran_s=ran,
                        media_s=row.duration_s,
                    )
                )
            self._advance(now)
            return found

    def _advance(self, now: float) -> None:
        settled = [event_id for event_id, at in self._seen.items() if at < now - self.lag_s]
        if settled:
            assert self._after is not None
            self._after = max(self._after, *settled)
            self._seen = {i: at for i, at in self._seen.items() if i > self._after}


def jobs_failing_dispatch(engine: Engine) -> int:
    """Waiting jobs whose last hand-over to the executor failed (or that the executor lost):
    they stay queued and are tried again, but nothing runs them meanwhile."""
    with reading(engine) as conn:
        count = conn.execute(
            select(func.count())
            .select_from(jobs)
            .where(
                jobs.c.state.in_([state.value for state in CLAIMABLE_JOB_STATES]),
                jobs.c.dispatch_error.is_not(None),
                jobs.c.dispatched_at.is_(None),
            )
        ).scalar()
    return int(count or 0)
