"""The job repository: the only code that writes job state.

Every transition is one conditional statement from queries.sql; worker writes are fenced
by the lease token. Writes that follow a won transition (the video row, a NOTIFY) happen in
the same transaction, so a crash can never leave half of a transition behind.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text, update

from vodforge.db.access import reading, writing
from vodforge.db.tables import job_events, jobs, videos
from vodforge.db.wakeup import CHANNEL, Wakeup
from vodforge.domain.states import (
    TERMINAL_JOB_STATES,
    JobState,
    VideoStatus,
    video_status_for_terminal_job,
)
from vodforge.errors import Conflict, ErrorCode, NotFound
from vodforge.jobs.records import (
    Backlog,
    ClaimedJob,
    ExpiredLease,
    JobEvent,
    JobRecord,
    job_event_from_row,
)
from vodforge.jobs.sql import query

Clock = Callable[[], float]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """Why an attempt failed, as recorded on the job and (when final) on the video."""

    code: str
    message: str
    retryable: bool


class JobRepository:
    def __init__(
        self,
        engine: Engine,
        *,
        lease_ttl_s: float = 30.0,
        max_attempts: int = 5,
        clock: Clock = time.time,
        wakeup: Wakeup | None = None,
    ) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.lease_ttl_s = lease_ttl_s
        self.max_attempts = max_attempts
        self.clock = clock
        self.wakeup = wakeup or Wakeup()
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    # -- plumbing ---------------------------------------------------------------------------

    def _write(self) -> AbstractContextManager[Connection]:
        return writing(self.engine)

    def _read(self) -> AbstractContextManager[Connection]:
        return reading(self.engine)

    def _run_alone(self, name: str, **params: Any) -> list[Any]:
        """One statement that is a whole transition: on PostgreSQL it runs in autocommit (one
        round trip, no BEGIN/COMMIT); on SQLite in its own immediate transaction."""
        if self.dialect == "postgresql":
            with self._autocommit.connect() as conn:
                return self._run(conn, name, **params)
        with self._write() as conn:
            return self._run(conn, name, **params)

    def _run(self, conn: Connection, name: str, **params: Any) -> list[Any]:
        result = conn.execute(query(name, self.dialect), params)
        return list(result.mappings()) if result.returns_rows else []

    def _notify_claimable(self, conn: Connection) -> None:
        """Tell other processes a job became claimable; PostgreSQL delivers it on commit."""
        if self.dialect == "postgresql":
            conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})

    def _settle_video(
        self,
        conn: Connection,
        video_id: str,
        job_id: str,
        state: JobState,
        *,
        failure: Failure | None = None,
        package: dict[str, Any] | None = None,
    ) -> None:
        """Bring the video in line with its current job's terminal state."""
        if state not in TERMINAL_JOB_STATES:
            return
        values: dict[str, Any] = {
            "status": video_status_for_terminal_job(state).value,
            "updated_at": self.clock(),
        }
        if state is JobState.SUCCEEDED:
            values.update(package=json.dumps(package), error_code=None, error_message=None)
        elif state in (JobState.FAILED, JobState.DEAD) and failure is not None:
            values.update(error_code=failure.code, error_message=failure.message)
        elif state is JobState.CANCELLED:
            values.update(error_code=None, error_message=None)
        conn.execute(
            update(videos)
            .where(videos.c.id == video_id, videos.c.current_job_id == job_id)
            .values(**values)
        )

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

    def _insert_job(
        self,
        conn: Connection,
        job_id: str,
        video_id: str,
        tenant_id: str,
        priority: int,
        now: float,
        reason: str,
    ) -> None:
        conn.execute(
            insert(jobs).values(
                id=job_id,
                video_id=video_id,
                tenant_id=tenant_id,
                state=JobState.QUEUED.value,
                priority=priority,
                attempt_count=0,
                max_attempts=self.max_attempts,
                cancel_requested=False,
                run_after=now,
                created_at=now,
                updated_at=now,
                transition_reason=reason,
            )
        )

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
        return state

    # -- maintenance transitions ------------------------------------------------------------

    def expire_stale_leases(self, scanner_id: str, batch: int = 500) -> list[ExpiredLease]:
        """RUNNING jobs whose lease ran out: RETRY_WAIT (due now), DEAD or CANCELLED."""
        with self._write() as conn:
            rows = self._run(
                conn, "expire_stale_leases", now=self.clock(), scanner=scanner_id, batch=batch
            )
            expired = [
                ExpiredLease(
                    job_id=row["id"],
                    video_id=row["video_id"],
                    tenant_id=row["tenant_id"],
                    state=JobState(row["state"]),
                    attempt_count=row["attempt_count"],
                    max_attempts=row["max_attempts"],
                )
                for row in rows
            ]
            for lease in expired:
                failure = Failure(
                    ErrorCode.ATTEMPTS_EXHAUSTED.value,
                    f"gave up after {lease.max_attempts} attempts; the last worker stopped "
                    "heartbeating",
                    retryable=False,
                )
                self._settle_video(conn, lease.video_id, lease.job_id, lease.state, failure=failure)
            if any(lease.state is JobState.RETRY_WAIT for lease in expired):
                self._notify_claimable(conn)
        if expired:
            self.wakeup.signal()
        return expired

    def stale_lease_count(self) -> int:
        with self._read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(jobs)
                    .where(
                        jobs.c.state == JobState.RUNNING.value, jobs.c.leased_until < self.clock()
                    )
                ).scalar_one()
            )

    def cancel_job(self, job_id: str, actor: str = "user") -> JobState | None:
        """CANCELLED at once if waiting; flagged for its worker if RUNNING. None if terminal."""
        with self._write() as conn:
            rows = self._run(conn, "cancel_job", now=self.clock(), job_id=job_id, actor=actor)
            if not rows:
                return None
            state = JobState(rows[0]["state"])
            self._settle_video(conn, rows[0]["video_id"], job_id, state)
        return state

    def cancel_video(self, video_id: str, actor: str = "user") -> JobState:
        """Cancel the video's current job; Conflict when it has already ended."""
        with self._read() as conn:
            job_id = conn.execute(
                select(videos.c.current_job_id).where(videos.c.id == video_id)
            ).scalar()
        if job_id is None:
            raise Conflict(f"video {video_id} has no job to cancel")
        state = self.cancel_job(job_id, actor)
        if state is None:
            job = self.get_job(job_id)
            if job.state is JobState.RUNNING:
                return job.state  # already flagged
            raise Conflict(f"video {video_id} cannot be cancelled: its job is {job.state.value}")
        return state

    def mark_dead(self, job_id: str, message: str, actor: str) -> JobState | None:
        """A waiting job the executor gave up on: DEAD, and its video FAILED. None when the
        job is not waiting (the dead-letter flow decides again on its new state)."""
        with self._write() as conn:
            rows = self._run(
                conn,
                "mark_dead",
                now=self.clock(),
                job_id=job_id,
                message=message,
                reason="dead-letter report",
                actor=actor,
            )
            if not rows:
                return None
            failure = Failure(ErrorCode.DEAD_LETTERED.value, message, retryable=False)
            self._settle_video(conn, rows[0]["video_id"], job_id, JobState.DEAD, failure=failure)
        return JobState.DEAD

    def retry_video(self, video_id: str, priority: int = 0) -> str:
        """A new QUEUED job for a FAILED or CANCELLED video; the old job and its history stay."""
        now = self.clock()
        job_id = str(uuid.uuid4())
        with self._write() as conn:
            video = conn.execute(select(videos).where(videos.c.id == video_id)).mappings().first()
            if video is None:
                raise NotFound(f"video {video_id} not found")
            old_job_id = video["current_job_id"]
            if old_job_id is not None:
                old_state = conn.execute(
                    select(jobs.c.state).where(jobs.c.id == old_job_id)
                ).scalar_one_or_none()
                if old_state is not None and JobState(old_state) not in TERMINAL_JOB_STATES:
                    raise Conflict(f"video {video_id} still has a live job ({old_state})")
            won = conn.execute(
                update(videos)
                .where(
                    videos.c.id == video_id,
                    videos.c.status.in_([VideoStatus.FAILED.value, VideoStatus.CANCELLED.value]),
                    videos.c.current_job_id == old_job_id
                    if old_job_id is not None
                    else videos.c.current_job_id.is_(None),
                )
                .values(
                    status=VideoStatus.UPLOADED.value,
                    current_job_id=job_id,
                    error_code=None,
                    error_message=None,
                    updated_at=now,
                )
            ).rowcount
            if not won:
                raise Conflict(
                    f"video {video_id} is {video['status']}: only FAILED or CANCELLED videos "
                    "can be retried"
                )
            self._insert_job(
                conn, job_id, video_id, video["tenant_id"], priority, now, "retried by user"
            )
            self._notify_claimable(conn)
        self.wakeup.signal()
        return job_id

    def requeue_video(self, video_id: str, reason: str) -> str:
        """Reconcile's repair: a fresh job for a video whose job is missing or lost its output."""
        now = self.clock()
        job_id = str(uuid.uuid4())
        with self._write() as conn:
            video = conn.execute(select(videos).where(videos.c.id == video_id)).mappings().first()
            if video is None:
                raise NotFound(f"video {video_id} not found")
            won = conn.execute(
                update(videos)
                .where(
                    videos.c.id == video_id,
                    videos.c.updated_at == video["updated_at"],
                )
                .values(
                    status=VideoStatus.UPLOADED.value,
                    current_job_id=job_id,
                    package=None,
                    updated_at=now,
                )
            ).rowcount
            if not won:
                raise Conflict(f"video {video_id} changed while being repaired")
            self._insert_job(conn, job_id, video_id, video["tenant_id"], 0, now, reason)
            self._notify_claimable(conn)
        self.wakeup.signal()
        return job_id

    def settle_video_from_job(self, video_id: str) -> bool:
        """Reconcile's repair for a video left PROCESSING although its job is terminal."""
        with self._write() as conn:
            video = conn.execute(select(videos).where(videos.c.id == video_id)).mappings().first()
            if video is None or video["status"] != VideoStatus.PROCESSING.value:
                return False
            job = (
                conn.execute(select(jobs).where(jobs.c.id == video["current_job_id"]))
                .mappings()
                .first()
            )
            if job is None or JobState(job["state"]) not in TERMINAL_JOB_STATES:
                return False
            state = JobState(job["state"])
            failure = Failure(
                job["last_error_code"] or ErrorCode.INTERNAL_ERROR.value,
                job["last_error_message"] or f"job ended {state.value}",
                retryable=False,
            )
            if state is JobState.SUCCEEDED:
                # A SUCCEEDED job always published in its own transaction; without a package
                # the safe repair is to transcode again, which the caller decides.
                return False
            self._settle_video(conn, video_id, job["id"], state, failure=failure)
            return True

    # -- reads ------------------------------------------------------------------------------

    def backlog(self) -> Backlog:
        with self._read() as conn:
            counts = {row["state"]: row["n"] for row in self._run(conn, "backlog")}
        return Backlog(
            queued=int(counts.get("QUEUED", 0)),
            retry_wait=int(counts.get("RETRY_WAIT", 0)),
            running=int(counts.get("RUNNING", 0)),
        )

    def find_job(self, job_id: str) -> JobRecord | None:
        with self._read() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
        return JobRecord.from_row(row) if row else None

    def get_job(self, job_id: str) -> JobRecord:
        job = self.find_job(job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found")
        return job

    def jobs_of_video(self, video_id: str) -> list[JobRecord]:
        with self._read() as conn:
            rows = conn.execute(
                select(jobs).where(jobs.c.video_id == video_id).order_by(jobs.c.created_at)
            ).mappings()
            return [JobRecord.from_row(row) for row in rows]

    def job_events(self, job_id: str) -> list[JobEvent]:
        with self._read() as conn:
            rows = conn.execute(
                select(job_events).where(job_events.c.job_id == job_id).order_by(job_events.c.id)
            ).mappings()
            return [job_event_from_row(row) for row in rows]
