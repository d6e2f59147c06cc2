"""Every job of a video with its executor's own view (e.g. the AWS Batch job and its status),
for `status --events`: what the database says next to what the executor says."""

from __future__ import annotations

import logging
from typing import Any

from vodforge.executors.base import Executor, ExecutorStatus
from vodforge.jobs.records import JobRecord
from vodforge.jobs.repository import JobRepository

log = logging.getLogger(__name__)


def job_runs(repo: JobRepository, executor: Executor, video_id: str) -> list[dict[str, Any]]:
    jobs = repo.jobs_of_video(video_id)
    refs = [job.executor_ref for job in jobs if job.executor_ref and executor.tracks_dispatch]
    statuses: dict[str, ExecutorStatus] = {}
    error = None
    if refs:
        try:
            statuses = executor.statuses(refs)
        except Exception as exc:
            # The database's side is still worth showing when the executor's API is down.
            log.warning("could not ask the %s executor about %s: %s", executor.name, refs, exc)
            error = f"{type(exc).__name__}: {exc}"
    return [_run_json(job, executor, statuses, error) for job in jobs]


def _run_json(
    job: JobRecord, executor: Executor, statuses: dict[str, ExecutorStatus], error: str | None
) -> dict[str, Any]:
    status = statuses.get(job.executor_ref or "")
    if status is None and error is not None and job.executor_ref:
        status = ExecutorStatus("UNAVAILABLE", error)
    return {
        "id": job.id,
        "kind": job.kind.value,
        "parent_id": job.parent_id,
        "state": job.state.value,
        "attempt_count": job.attempt_count,
        "max_attempts": job.max_attempts,
        "cancel_requested": job.cancel_requested,
        "leased_by": job.leased_by,
        "executor": executor.name,
        "executor_ref": job.executor_ref,
        "executor_status": status.to_json() if status else None,
        "dispatched_at": job.dispatched_at,
        "dispatch_error": job.dispatch_error,
        "dispatch_failures": job.dispatch_failures,
        "next_dispatch_at": job.dispatch_after,
    }
