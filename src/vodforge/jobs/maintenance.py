"""Transitions made by users and maintenance, not by the worker holding the lease: lease
expiry, cancel, dead-letter, retry, and reconcile's repairs. Part of the one writer of job
state (JobRepository), kept in its own module by concept."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update

from vodforge.db.tables import jobs, videos
from vodforge.domain.states import (
    TERMINAL_JOB_STATES,
    JobState,
    VideoStatus,
)
from vodforge.errors import Conflict, ErrorCode, NotFound
from vodforge.jobs.core import Failure
from vodforge.jobs.family import FamilyTransitions
from vodforge.jobs.records import (
    ExpiredLease,
)


class MaintenanceTransitions(FamilyTransitions):
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
            # Decided after this commit, each under its parent's lock: taking parent locks
            # while holding these children's could deadlock with a child's own completion.
            parents = {row["parent_id"] for row in rows if row["parent_id"] is not None}
        for parent_id in sorted(parents):
            self.advance_family(parent_id)
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
        # A parent waiting on its children passes the cancel on to them; a child's family
        # decides again.
        self.advance_family(job_id if state is JobState.RUNNING else None)
        self.advance_family(rows[0]["parent_id"])
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
        self.advance_family(rows[0]["parent_id"])
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
