"""The videos table outside job transitions: reads, pages, probe results, deletion and purge.

Job state (and the video status that follows it) is written only by jobs/repository.py; this
module writes what no transition owns: a pending upload, probe results, the deleted mark,
and the rows of a purged video.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Engine,
    RowMapping,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from vodforge.db.access import reading, writing
from vodforge.db.tables import job_events, jobs, video_progress, videos
from vodforge.domain.states import TERMINAL_JOB_STATES, JobState, VideoStatus
from vodforge.errors import NotFound
from vodforge.jobs.records import ClaimedJob, JobEvent, JobRecord, VideoRecord, job_event_from_row

LIVE = videos.c.deleted_at.is_(None)

# A video with its current job, in one read: the API's most frequent query. Built once, so a
# call neither rebuilds the statement nor recomputes its cache key.
_JOB_COLUMNS = [column.label(f"job_{column.name}") for column in jobs.c]
_WITH_JOB = select(videos, *_JOB_COLUMNS).select_from(
    videos.outerjoin(jobs, jobs.c.id == videos.c.current_job_id)
)
VIDEO_WITH_JOB = _WITH_JOB.where(videos.c.id == bindparam("video_id"), LIVE)
TENANT_VIDEO_WITH_JOB = VIDEO_WITH_JOB.where(videos.c.tenant_id == bindparam("tenant_id"))


@dataclass(frozen=True)
class PageKey:
    """Where a page of a newest-first listing starts: after this (created_at, id)."""

    created_at: float
    video_id: str


class VideoRepository:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    # -- reads (deleted videos are gone) ---------------------------------------------------

    def find_video(self, video_id: str, tenant_id: str | None = None) -> VideoRecord | None:
        statement = select(videos).where(videos.c.id == video_id, LIVE)
        if tenant_id is not None:
            statement = statement.where(videos.c.tenant_id == tenant_id)
        with reading(self.engine) as conn:
            row = conn.execute(statement).mappings().first()
        return VideoRecord.from_row(row) if row else None

    def find_video_with_job(
        self, video_id: str, tenant_id: str | None = None
    ) -> tuple[VideoRecord, JobRecord | None] | None:
        """The video and its current job (None if it has none), in one read."""
        statement = VIDEO_WITH_JOB if tenant_id is None else TENANT_VIDEO_WITH_JOB
        with reading(self.engine) as conn:
            row = (
                conn.execute(statement, {"video_id": video_id, "tenant_id": tenant_id})
                .mappings()
                .first()
            )
        return None if row is None else _video_and_job(row)

    def get_video(self, video_id: str, tenant_id: str | None = None) -> VideoRecord:
        video = self.find_video(video_id, tenant_id)
        if video is None:
            raise NotFound(f"video {video_id} not found")
        return video

    def list_videos(
        self, tenant_id: str | None = None, limit: int = 100, after: PageKey | None = None
    ) -> list[VideoRecord]:
        """Newest first; `after` continues a listing past the last row of the previous page."""
        statement = _listing(select(videos), tenant_id, limit, after)
        with reading(self.engine) as conn:
            return [VideoRecord.from_row(row) for row in conn.execute(statement).mappings()]

    def list_videos_with_jobs(
        self, tenant_id: str | None = None, limit: int = 100, after: PageKey | None = None
    ) -> list[tuple[VideoRecord, JobRecord | None]]:
        """`list_videos` with each video's current job, in the same read (not one per row)."""
        statement = _listing(_WITH_JOB, tenant_id, limit, after)
        with reading(self.engine) as conn:
            return [_video_and_job(row) for row in conn.execute(statement).mappings()]

    def video_events(self, video_id: str) -> list[JobEvent]:
        """The events of every job the video has had, oldest first."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(job_events, jobs.c.kind)
                .join(jobs, jobs.c.id == job_events.c.job_id)
                .where(jobs.c.video_id == video_id)
                .order_by(job_events.c.id)
            ).mappings()
            return [job_event_from_row(row) for row in rows]

    def queue_position(self, job_id: str) -> int | None:
        """1 + the waiting jobs that the claim order (priority, then age, then id) puts ahead
        of this one, or None when the job is not waiting. Fair claiming across tenants can
        move a job forward; it never moves it back."""
        ahead = jobs.alias("ahead")
        with reading(self.engine) as conn:
            mine = conn.execute(
                select(jobs.c.state, jobs.c.priority, jobs.c.created_at).where(jobs.c.id == job_id)
            ).first()
            if mine is None or JobState(mine.state) not in (JobState.QUEUED, JobState.RETRY_WAIT):
                return None
            count = conn.execute(
                select(func.count())
                .select_from(ahead)
                .where(
                    ahead.c.state.in_([JobState.QUEUED.value, JobState.RETRY_WAIT.value]),
                    or_(
                        ahead.c.priority < mine.priority,
                        and_(
                            ahead.c.priority == mine.priority,
                            ahead.c.created_at < mine.created_at,
                        ),
                        # Jobs queued in the same instant are claimed in id order.
                        and_(
                            ahead.c.priority == mine.priority,
                            ahead.c.created_at == mine.created_at,
                            ahead.c.id < job_id,
                        ),
                    ),
                )
            ).scalar_one()
        return int(count) + 1

    # -- writes outside job transitions ----------------------------------------------------

    def insert_pending_upload(
        self,
        video_id: str,
        tenant_id: str,
        title: str,
        *,
        source_key: str,
        source_bytes: int,
        expires_at: float,
    ) -> None:
        """A direct upload's video: PENDING_UPLOAD until the client says the object is there."""
        now = self.clock()
        with writing(self.engine) as conn:
            conn.execute(
                insert(videos).values(
                    id=video_id,
                    tenant_id=tenant_id,
                    title=title,
                    status=VideoStatus.PENDING_UPLOAD.value,
                    source_key=source_key,
                    source_bytes=source_bytes,
                    upload_expires_at=expires_at,
                    created_at=now,
                    updated_at=now,
                )
            )

    def record_probe(self, video_id: str, job: ClaimedJob, probe: dict[str, object]) -> bool:
        """Store probe results on the video, only while this attempt still holds the job."""
        with writing(self.engine) as conn:
            holds = conn.execute(
                select(jobs.c.id).where(
                    jobs.c.id == job.id,
                    jobs.c.state == JobState.RUNNING.value,
                    jobs.c.lease_token == job.lease_token,
                )
            ).first()
            if not holds:
                return False
            conn.execute(
                update(videos)
                .where(videos.c.id == video_id, videos.c.current_job_id == job.id)
                .values(
                    probe=json.dumps(probe),
                    duration_s=probe.get("duration_s"),
                    width=probe.get("width"),
                    height=probe.get("height"),
                    updated_at=self.clock(),
                )
            )
        return True

    def mark_deleted(self, video_id: str, tenant_id: str | None = None) -> VideoRecord:
        """Hide the video from every read at once; the purge removes it for good later."""
        now = self.clock()
        condition = [videos.c.id == video_id, LIVE]
        if tenant_id is not None:
            condition.append(videos.c.tenant_id == tenant_id)
        with writing(self.engine) as conn:
            row = (
                conn.execute(
                    update(videos)
                    .where(*condition)
                    .values(deleted_at=now, updated_at=now)
                    .returning(*videos.c)
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"video {video_id} not found")
        return VideoRecord.from_row(row)

    def deleted_and_settled(self, limit: int = 100) -> list[str]:
        """Deleted videos none of whose jobs can still write: ready to purge."""
        live_job = (
            select(jobs.c.id)
            .where(
                jobs.c.video_id == videos.c.id,
                jobs.c.state.notin_([s.value for s in TERMINAL_JOB_STATES]),
            )
            .exists()
        )
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(videos.c.id)
                .where(videos.c.deleted_at.is_not(None), ~live_job)
                .order_by(videos.c.deleted_at)
                .limit(limit)
            )
            return [row.id for row in rows]

    def abandoned_uploads(self, now: float, limit: int = 100) -> list[str]:
        """PENDING_UPLOAD videos whose upload window has passed."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(videos.c.id)
                .where(
                    videos.c.status == VideoStatus.PENDING_UPLOAD.value,
                    videos.c.upload_expires_at < now,
                    LIVE,
                )
                .limit(limit)
            )
            return [row.id for row in rows]

    def purge(self, video_id: str) -> bool:
        """Remove the rows of a video with its jobs and their history; refused (False) while a
        job of it is live. Stored objects are the caller's to delete first."""
        with writing(self.engine) as conn:
            live = conn.execute(
                select(jobs.c.id).where(
                    jobs.c.video_id == video_id,
                    jobs.c.state.notin_([s.value for s in TERMINAL_JOB_STATES]),
                )
            ).first()
            if live is not None:
                return False
            job_ids = select(jobs.c.id).where(jobs.c.video_id == video_id).scalar_subquery()
            conn.execute(delete(job_events).where(job_events.c.job_id.in_(job_ids)))
            conn.execute(delete(jobs).where(jobs.c.video_id == video_id))
            conn.execute(delete(video_progress).where(video_progress.c.video_id == video_id))
            return bool(conn.execute(delete(videos).where(videos.c.id == video_id)).rowcount)


def _listing(
    statement: Select[Any], tenant_id: str | None, limit: int, after: PageKey | None
) -> Select[Any]:
    """A newest-first page of live videos (of one tenant when given), after `after`."""
    statement = (
        statement.where(LIVE).order_by(videos.c.created_at.desc(), videos.c.id.desc()).limit(limit)
    )
    if tenant_id is not None:
        statement = statement.where(videos.c.tenant_id == tenant_id)
    if after is not None:
        statement = statement.where(
            or_(
                videos.c.created_at < after.created_at,
                and_(videos.c.created_at == after.created_at, videos.c.id < after.video_id),
            )
        )
    return statement


def _video_and_job(row: RowMapping) -> tuple[VideoRecord, JobRecord | None]:
    """A row of `_WITH_JOB`: the video, and its current job when it has one."""
    job = None
    if row["job_id"] is not None:
        job = JobRecord.from_row({column.name: row[f"job_{column.name}"] for column in jobs.c})
    return VideoRecord.from_row(row), job
