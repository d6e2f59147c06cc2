"""Reconcile: find what a crash between two writes can leave behind, and repair it (SPEC §2)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select

from vodforge.db.access import reading
from vodforge.db.tables import jobs, videos
from vodforge.domain.states import TERMINAL_JOB_STATES, JobState, VideoStatus
from vodforge.executors.base import Executor
from vodforge.jobs.dispatch import Dispatcher
from vodforge.jobs.repository import JobRepository


class FixKind(StrEnum):
    SETTLE_VIDEO = "settle_video"  # PROCESSING video whose job is terminal: copy its outcome
    REQUEUE_VIDEO = "requeue_video"  # job missing, or READY without a package: transcode again
    REDISPATCH_JOB = "redispatch_job"  # QUEUED job no executor knows about


@dataclass(frozen=True)
class Fix:
    kind: FixKind
    video_id: str
    job_id: str | None
    why: str

    def to_json(self) -> dict[str, str | None]:
        return {
            "fix": self.kind.value,
            "video_id": self.video_id,
            "job_id": self.job_id,
            "why": self.why,
        }


def plan_reconcile(repo: JobRepository, executor: Executor, limit: int = 500) -> list[Fix]:
    fixes: list[Fix] = []
    live_video_states = [
        VideoStatus.UPLOADED.value,
        VideoStatus.PROCESSING.value,
        VideoStatus.READY.value,
    ]
    with reading(repo.engine) as conn:
        rows = (
            conn.execute(
                select(
                    videos.c.id,
                    videos.c.status,
                    videos.c.package,
                    videos.c.current_job_id,
                    jobs.c.state,
                    jobs.c.executor_ref,
                    jobs.c.dispatched_at,
                )
                .select_from(videos.outerjoin(jobs, jobs.c.id == videos.c.current_job_id))
                .where(videos.c.status.in_(live_video_states), videos.c.deleted_at.is_(None))
                .limit(limit * 20)
            )
            .mappings()
            .all()
        )
    for row in rows:
        status = VideoStatus(row["status"])
        job_state = JobState(row["state"]) if row["state"] else None
        if status is VideoStatus.READY:
            if not row["package"]:
                fixes.append(
                    Fix(
                        FixKind.REQUEUE_VIDEO,
                        row["id"],
                        row["current_job_id"],
                        "READY without a published package",
                    )
                )
            continue
        if job_state is None:
            fixes.append(
                Fix(
                    FixKind.REQUEUE_VIDEO,
                    row["id"],
                    row["current_job_id"],
                    f"{status.value} video whose job is missing",
                )
            )
        elif job_state in TERMINAL_JOB_STATES:
            if job_state is JobState.SUCCEEDED:
                fixes.append(
                    Fix(
                        FixKind.REQUEUE_VIDEO,
                        row["id"],
                        row["current_job_id"],
                        "job SUCCEEDED but the video never became READY",
                    )
                )
            else:
                fixes.append(
                    Fix(
                        FixKind.SETTLE_VIDEO,
                        row["id"],
                        row["current_job_id"],
                        f"{status.value} video whose job is {job_state.value}",
                    )
                )
        elif (
            executor.tracks_dispatch
            and job_state is JobState.QUEUED
            and row["dispatched_at"] is not None
            and executor.knows(row["executor_ref"]) is False
        ):
            fixes.append(
                Fix(
                    FixKind.REDISPATCH_JOB,
                    row["id"],
                    row["current_job_id"],
                    f"QUEUED job unknown to the {executor.name} executor",
                )
            )
        if len(fixes) >= limit:
            break
    return fixes


def apply_fix(repo: JobRepository, dispatcher: Dispatcher, fix: Fix) -> bool:
    if fix.kind is FixKind.SETTLE_VIDEO:
        return repo.settle_video_from_job(fix.video_id)
    if fix.kind is FixKind.REQUEUE_VIDEO:
        repo.requeue_video(fix.video_id, reason=f"reconcile: {fix.why}")
        return True
    assert fix.job_id is not None
    # Clearing dispatched_at makes the scheduler dispatch it again on its next tick.
    return dispatcher.forget(fix.job_id, f"reconcile: {fix.why}")
