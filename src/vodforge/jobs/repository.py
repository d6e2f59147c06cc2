"""The job repository: the only code that writes job state.

Every transition is one conditional statement from queries.sql; worker writes are fenced
by the lease token. Writes that follow a won transition (the video row, a NOTIFY) happen in
the same transaction, so a crash can never leave half of a transition behind.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from sqlalchemy import Connection, insert, update

from vodforge.db.tables import videos
from vodforge.domain.clock import Clock
from vodforge.domain.states import (
    JobKind,
    JobState,
    VideoStatus,
)
from vodforge.errors import Conflict, ErrorCode
from vodforge.jobs.core import Failure
from vodforge.jobs.maintenance import MaintenanceTransitions
from vodforge.jobs.records import (
    ClaimedJob,
)

__all__ = ["Clock", "Failure", "JobRepository"]
log = logging.getLogger(__name__)


class JobRepository(MaintenanceTransitions):
    """The one writer of job state: submissions and worker transitions here, user and
    maintenance transitions in maintenance.py, the shared plumbing in core.py."""

    # -- submissions ------------------------------------------------------------------------

    def create_video_and_job(
        self,
        tenant_id: str,
        title: str,
        *,
        source_key: str,
        source_bytes: int,
        video_id: str | None = None,
        priority: int = 0,
    ) -> tuple[str, str]:
        """An uploaded video and its QUEUED job, in one transaction."""
        now = self.clock()
        video_id = video_id or str(uuid.uuid4())
        job_id = str(uuid.uuid4())
        with self._write() as conn:
            conn.execute(
                insert(videos).values(
                    id=video_id,
                    tenant_id=tenant_id,
                    title=title,
                    status=VideoStatus.UPLOADED.value,
                    source_key=source_key,
                    source_bytes=source_bytes,
                    current_job_id=job_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            self._insert_job(conn, job_id, video_id, tenant_id, priority, now, "uploaded")
            self._notify_claimable(conn)
        self.wakeup.signal()
        return video_id, job_id

    def queue_pending_upload(self, video_id: str, tenant_id: str, source_bytes: int) -> str:
        """A direct upload arrived: its PENDING_UPLOAD video becomes UPLOADED with a QUEUED
        job, in one transaction; Conflict if it is no longer pending (completed twice)."""
        now = self.clock()
        job_id = str(uuid.uuid4())
        with self._write() as conn:
            won = conn.execute(
                update(videos)
                .where(
                    videos.c.id == video_id,
                    videos.c.tenant_id == tenant_id,
                    videos.c.status == VideoStatus.PENDING_UPLOAD.value,
                    videos.c.deleted_at.is_(None),
                )
                .values(
                    status=VideoStatus.UPLOADED.value,
                    source_bytes=source_bytes,
                    current_job_id=job_id,
                    upload_expires_at=None,
                    updated_at=now,
                )
            ).rowcount
            if not won:
                raise Conflict(f"video {video_id} is not waiting for its upload")
            self._insert_job(conn, job_id, video_id, tenant_id, 0, now, "uploaded")
            self._notify_claimable(conn)
        self.wakeup.signal()
        return job_id

    # -- worker transitions (fenced by the lease token) ------------------------------------

    def claim_job(self, worker_id: str) -> ClaimedJob | None:
        """Take the fairest eligible job, or None when there is nothing to do."""
        return self._claim("claim_job", worker_id)

    def claim_job_by_id(
        self, job_id: str, worker_id: str, executor_ref: str | None = None
    ) -> ClaimedJob | None:
        """Claim exactly this job (run-job); `executor_ref` names the run that holds it."""
        return self._claim("claim_job_by_id", worker_id, job_id=job_id, ref=executor_ref)

    def _claim(self, statement: str, worker_id: str, **params: Any) -> ClaimedJob | None:
        now = self.clock()
        params.update(now=now, ttl=self.lease_ttl_s, token=str(uuid.uuid4()), worker=worker_id)
        if self.dialect == "postgresql":
            # The PostgreSQL form marks the video PROCESSING in the same statement.
            rows = self._run_alone(statement, **params)
        else:
            with self._write() as conn:
                rows = self._run(conn, statement, **params)
                if rows:
                    self._mark_processing(conn, rows[0]["video_id"], rows[0]["id"], now)
        if not rows:
            return None
        row = rows[0]
        return ClaimedJob(
            id=row["id"],
            video_id=row["video_id"],
            tenant_id=row["tenant_id"],
            attempt=row["attempt_count"],
            max_attempts=row["max_attempts"],
            lease_token=row["lease_token"],
            worker_id=worker_id,
            cancel_requested=bool(row["cancel_requested"]),
            kind=JobKind(row["kind"]),
            parent_id=row["parent_id"],
            spec=json.loads(row["spec"]) if row["spec"] else None,
        )

    def _mark_processing(self, conn: Connection, video_id: str, job_id: str, now: float) -> None:
        conn.execute(
            update(videos)
            .where(
                videos.c.id == video_id,
                videos.c.current_job_id == job_id,
                videos.c.status.in_([VideoStatus.UPLOADED.value, VideoStatus.PROCESSING.value]),
            )
            .values(status=VideoStatus.PROCESSING.value, updated_at=now)
        )

    def renew_lease(self, job: ClaimedJob) -> bool | None:
        """Extend the lease. Returns cancel_requested, or None when the lease was lost."""
        rows = self._run_alone(
            "renew_lease",
            now=self.clock(),
            ttl=self.lease_ttl_s,
            job_id=job.id,
            token=job.lease_token,
        )
        return bool(rows[0]["cancel_requested"]) if rows else None

    def complete_job(self, job: ClaimedJob, package: dict[str, Any]) -> JobState | None:
        """SUCCEEDED and the video READY with its package, in one transaction.

        Returns the state written (CANCELLED if a cancel arrived first), None if fenced out.
        """
        params = {
            "now": self.clock(),
            "job_id": job.id,
            "token": job.lease_token,
            "worker": job.worker_id,
        }
        if self.dialect == "postgresql":
            # The PostgreSQL form publishes the package in the same statement.
            rows = self._run_alone("complete_job", package=json.dumps(package), **params)
            return JobState(rows[0]["state"]) if rows else None
        with self._write() as conn:
            rows = self._run(conn, "complete_job", **params)
            if not rows:
                return None
            state = JobState(rows[0]["state"])
            self._settle_video(conn, job.video_id, job.id, state, package=package)
        return state

    def fail_job(
        self, job: ClaimedJob, failure: Failure, *, retry_delay_s: float = 0.0
    ) -> JobState | None:
        """RETRY_WAIT (or DEAD when attempts are used up) for retryable failures, FAILED for
        permanent ones. None if the lease was no longer ours."""
        now = self.clock()
        reason = f"{failure.code}: {failure.message}"[:500]
        with self._write() as conn:
            if failure.retryable:
                rows = self._run(
                    conn,
                    "fail_job_retryable",
                    now=now,
                    run_after=now + retry_delay_s,
                    code=failure.code,
                    message=failure.message,
                    reason=reason,
                    job_id=job.id,
                    token=job.lease_token,
                    worker=job.worker_id,
                )
            else:
                rows = self._run(
                    conn,
                    "fail_job_permanent",
                    now=now,
                    code=failure.code,
                    message=failure.message,
                    reason=reason,
                    job_id=job.id,
                    token=job.lease_token,
                    worker=job.worker_id,
                )
            if not rows:
                return None
            state = JobState(rows[0]["state"])
            if state is JobState.DEAD:
                failure = Failure(
                    ErrorCode.ATTEMPTS_EXHAUSTED.value,
                    f"gave up after {job.max_attempts} attempts; last error "
                    f"{failure.code}: {failure.message}",
                    retryable=False,
                )
            self._settle_video(conn, job.video_id, job.id, state, failure=failure)
        self.advance_family(job.parent_id)
        return state

    def finish_cancelled(self, job: ClaimedJob) -> JobState | None:
        return self._worker_end("finish_cancelled", job)

    def release_job(self, job: ClaimedJob) -> JobState | None:
        """Give a job back on graceful shutdown instead of leaving it to lease expiry."""
        state = self._worker_end("release_job", job, notify=True)
        return state

    def _worker_end(self, statement: str, job: ClaimedJob, notify: bool = False) -> JobState | None:
        with self._write() as conn:
            rows = self._run(
                conn,
                statement,
                now=self.clock(),
                job_id=job.id,
                token=job.lease_token,
                worker=job.worker_id,
            )
            if not rows:
                return None
            state = JobState(rows[0]["state"])
            self._settle_video(conn, job.video_id, job.id, state)
            if notify and state is JobState.QUEUED:
                self._notify_claimable(conn)
        if notify:
            self.wakeup.signal()
        self.advance_family(job.parent_id)
        return state
