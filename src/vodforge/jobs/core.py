"""What every part of the job repository shares: the engine, the clock, named statements,
and the writes that ride along with a won transition (the video row, the NOTIFY)."""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text, update

from vodforge.db.access import reading, writing
from vodforge.db.tables import job_events, jobs, videos
from vodforge.db.wakeup import CHANNEL, Wakeup
from vodforge.domain.clock import Clock
from vodforge.domain.states import (
    TERMINAL_JOB_STATES,
    JobState,
    video_status_for_terminal_job,
)
from vodforge.errors import NotFound
from vodforge.jobs.records import Backlog, JobEvent, JobRecord, job_event_from_row
from vodforge.jobs.sql import query


@dataclass(frozen=True)
class Failure:
    """Why an attempt failed, as recorded on the job and (when final) on the video."""

    code: str
    message: str
    retryable: bool


class RepositoryCore:
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
