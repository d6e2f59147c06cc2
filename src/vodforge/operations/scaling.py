"""The scaling signal of a deployment now: reads backlog and worker activity, then decides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sqlalchemy import select

from vodforge.db.access import reading
from vodforge.db.tables import job_events, jobs
from vodforge.domain.scaling import ScalingDecision, ScalingPolicy, decide_workers, worker_of_lease
from vodforge.domain.states import JobState
from vodforge.jobs.records import Backlog
from vodforge.jobs.repository import JobRepository


def scaling_signal(
    repo: JobRepository, policy: ScalingPolicy, backlog: Backlog | None = None
) -> ScalingDecision:
    """The decision now; `backlog` when the caller has just counted the jobs by state."""
    backlog = backlog or repo.backlog()
    idle_for: float | None = None
    with reading(repo.engine) as conn:
        # RUNNING rows only (a partial index): as many as the fleet has busy slots.
        holders = conn.execute(
            select(jobs.c.leased_by).where(jobs.c.state == JobState.RUNNING.value)
        ).scalars()
        busy = {worker_of_lease(holder) for holder in holders if holder}
        if backlog.backlog == 0 and backlog.running == 0:
            # Every transition appends an event, so the newest one (primary key order, one
            # index probe) is when the fleet last had something to do.
            last = conn.execute(
                select(job_events.c.at).order_by(job_events.c.id.desc()).limit(1)
            ).scalar()
            if last is not None:
                idle_for = max(0.0, repo.clock() - last)
    return decide_workers(
        backlog=backlog.backlog,
        running=backlog.running,
        busy_workers=len(busy),
        idle_for_s=idle_for,
        policy=policy,
    )


class MetricSink(Protocol):
    def publish(self, values: Mapping[str, float], *, timestamp: float | None = None) -> None: ...


class ScalingPublisher:
    """Hands the scaling signal to an autoscaler's metric store (CloudWatch) every `every_s`:
    BacklogCount, the metric the seeds' target tracking settled on, with the running jobs and
    the decision beside it. The scheduler calls `maybe_publish` on each tick."""

    def __init__(
        self,
        repo: JobRepository,
        policy: ScalingPolicy,
        sink: MetricSink,
        *,
        every_s: float = 60.0,
    ) -> None:
        self.repo = repo
        self.policy = policy
        self.sink = sink
        self.every_s = every_s
        self._last: float | None = None

    def maybe_publish(self) -> ScalingDecision | None:
        now = self.repo.clock()
        if self._last is not None and now - self._last < self.every_s:
            return None
        decision = scaling_signal(self.repo, self.policy)
        self.sink.publish(
            {
                "BacklogCount": decision.backlog,
                "RunningJobs": decision.running,
                "BusyWorkers": decision.busy_workers,
                "DesiredWorkers": decision.desired_workers,
            },
            timestamp=now,
        )
        # Only a successful publish counts: a failed one is tried again on the next tick.
        self._last = now
        return decision
