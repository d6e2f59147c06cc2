"""Handing jobs to an executor and keeping its bookkeeping on the job row.

Dispatch marks (when, which executor reference, the last dispatch error, the backoff of a
failing submit) are not job state: a job stays QUEUED whatever happens here, and a failed
dispatch is retried with backoff, never deleted.
"""

from __future__ import annotations

import logging

from vodforge.db.access import reading, writing
from vodforge.domain.retry import RetryPolicy
from vodforge.executors.base import Executor
from vodforge.jobs.records import JobRecord
from vodforge.jobs.repository import JobRepository
from vodforge.jobs.sql import query
from vodforge.logs import Event, log_event

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self, repo: JobRepository, executor: Executor, retry_policy: RetryPolicy | None = None
    ) -> None:
        self.repo = repo
        self.executor = executor
        # Backoff between failing submits; None tries again at the next scheduler pass.
        self.retry_policy = retry_policy

    def dispatch(self, job_id: str) -> bool:
        """Hand one job to the executor; a failure keeps it QUEUED with the error, to retry."""
        if not self.executor.tracks_dispatch:
            # Local workers were already woken by the commit that queued the job. Writing
            # dispatched_at would only hold a row lock that a woken claimer's SKIP LOCKED skips.
            self.executor.dispatch(job_id)
            return True
        try:
            ref = self.executor.dispatch(job_id)
        except Exception as exc:
            failures = self.record_error(job_id, f"{type(exc).__name__}: {exc}")
            log_event(
                log,
                Event.DISPATCH_FAILED,
                level=logging.WARNING,
                job_id=job_id,
                executor=self.executor.name,
                error=str(exc),
                failures=failures,
            )
            return False
        self.mark_dispatched(job_id, ref)
        return True

    def dispatch_due(self) -> tuple[list[str], list[str]]:
        """Dispatch every due job not yet handed over; returns (dispatched, failed)."""
        dispatched: list[str] = []
        failed: list[str] = []
        if not self.executor.tracks_dispatch:
            return dispatched, failed
        for job_id in self.jobs_due():
            (dispatched if self.dispatch(job_id) else failed).append(job_id)
        return dispatched, failed

    def terminate(self, job: JobRecord, reason: str) -> bool:
        """Ask the executor to stop the run holding `job` (its cancel was not acted on)."""
        if job.executor_ref is None:
            return False
        asked = self.executor.terminate(job.executor_ref, reason)
        if asked:
            log_event(
                log,
                Event.EXECUTOR_TERMINATE,
                level=logging.WARNING,
                job_id=job.id,
                executor=self.executor.name,
                executor_ref=job.executor_ref,
                reason=reason,
            )
        return asked

    # -- the bookkeeping statements --------------------------------------------------------

    def jobs_due(self, batch: int = 100) -> list[str]:
        with reading(self.repo.engine) as conn:
            rows = conn.execute(
                query("jobs_due_for_dispatch", self.repo.dialect),
                {"now": self.repo.clock(), "batch": batch},
            )
            return [row.id for row in rows]

    def mark_dispatched(self, job_id: str, executor_ref: str | None) -> bool:
        with writing(self.repo.engine) as conn:
            result = conn.execute(
                query("mark_dispatched", self.repo.dialect),
                {"now": self.repo.clock(), "ref": executor_ref, "job_id": job_id},
            )
        return bool(result.rowcount)

    def record_error(self, job_id: str, error: str) -> int:
        """A failed dispatch keeps the job QUEUED with the error; the scheduler retries it
        after the backoff. Returns the failures in a row (0: the job is no longer waiting)."""
        now = self.repo.clock()
        with writing(self.repo.engine) as conn:
            row = conn.execute(
                query("record_dispatch_failure", self.repo.dialect),
                {"error": error[:2000], "after": None, "job_id": job_id},
            ).first()
            if row is None:
                return 0
            failures = int(row.dispatch_failures)
            if self.retry_policy is not None:
                conn.execute(
                    query("delay_dispatch", self.repo.dialect),
                    {"after": now + self.retry_policy.delay_s(failures), "job_id": job_id},
                )
        return failures

    def forget(self, job_id: str, why: str) -> bool:
        """The executor lost the job: dispatch it again at the next pass, without backoff."""
        with writing(self.repo.engine) as conn:
            result = conn.execute(
                query("forget_dispatch", self.repo.dialect), {"error": why[:2000], "job_id": job_id}
            )
        return bool(result.rowcount)

    def stalled(self, older_than_s: float, batch: int = 100) -> list[JobRecord]:
        """Claimable jobs nobody started for `older_than_s` seconds."""
        with reading(self.repo.engine) as conn:
            rows = conn.execute(
                query("stalled_dispatches", self.repo.dialect),
                {"before": self.repo.clock() - older_than_s, "batch": batch},
            )
            ids = [row.id for row in rows]
        return [self.repo.get_job(job_id) for job_id in ids]

    def overdue_cancels(self, grace_s: float, batch: int = 100) -> list[JobRecord]:
        """RUNNING jobs still running `grace_s` seconds after their cancel was requested."""
        with reading(self.repo.engine) as conn:
            rows = conn.execute(
                query("overdue_cancels", self.repo.dialect),
                {"before": self.repo.clock() - grace_s, "batch": batch},
            )
            ids = [row.id for row in rows]
        return [self.repo.get_job(job_id) for job_id in ids]
