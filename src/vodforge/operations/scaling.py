"""The scaling signal of a deployment now: reads backlog and worker activity, then decides."""

from __future__ import annotations

from sqlalchemy import func, select

from vodforge.db.access import reading
from vodforge.db.tables import jobs
from vodforge.domain.scaling import ScalingDecision, ScalingPolicy, decide_workers
from vodforge.domain.states import JobState
from vodforge.jobs.repository import JobRepository


def scaling_signal(repo: JobRepository, policy: ScalingPolicy) -> ScalingDecision:
    backlog = repo.backlog()
    with reading(repo.engine) as conn:
        busy = conn.execute(
            select(func.count(func.distinct(jobs.c.leased_by))).where(
                jobs.c.state == JobState.RUNNING.value
            )
        ).scalar_one()
        last_activity = conn.execute(select(func.max(jobs.c.updated_at))).scalar()
    idle_for = None if last_activity is None else max(0.0, repo.clock() - last_activity)
    return decide_workers(
        backlog=backlog.backlog,
        running=backlog.running,
        busy_workers=int(busy),
        idle_for_s=idle_for,
        policy=policy,
    )
