"""The scheduler's maintenance: dispatch with retries, stalled reports, reconcile, leadership."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, update

from tests.conftest import FakeClock
from tests.support.factories import queue_jobs
from vodforge.db import tables
from vodforge.domain.states import JobState, VideoStatus
from vodforge.executors.memory import InMemoryExecutor
from vodforge.jobs.dispatch import Dispatcher
from vodforge.jobs.repository import JobRepository
from vodforge.operations.reconcile import FixKind, plan_reconcile
from vodforge.scheduler import FileLeadership, PostgresLeadership, Scheduler
from vodforge.videos.repository import VideoRepository


def test_failed_dispatch_stays_queued_and_is_retried(repo: JobRepository) -> None:
    executor = InMemoryExecutor()
    executor.fail_next = 1
    [job_id] = queue_jobs(repo, "acme", 1)
    scheduler = Scheduler(repo, Dispatcher(repo, executor), scanner_id="s")
    report = scheduler.tick()
    # The failed dispatch is recorded; the reconcile pass of the first tick retries it.
    assert report.dispatch_failures == [job_id]
    assert report.dispatched == [job_id]
    job = repo.get_job(job_id)
    assert job.state is JobState.QUEUED and job.dispatched_at is not None
    assert job.executor_ref == "mem-1" and job.dispatch_error is None
    assert scheduler.tick().dispatched == []


def test_expired_lease_is_redispatched_with_same_job_id(
    repo: JobRepository, clock: FakeClock
) -> None:
    executor = InMemoryExecutor()
    scheduler = Scheduler(repo, Dispatcher(repo, executor), scanner_id="s")
    [job_id] = queue_jobs(repo, "acme", 1)
    scheduler.tick()
    assert repo.claim_job_by_id(job_id, "batch-container") is not None
    clock.advance(31)
    report = scheduler.tick()
    assert [e.job_id for e in report.expired] == [job_id]
    assert report.dispatched == [job_id]
    assert executor.dispatched == [job_id, job_id]


def test_stalled_dispatch_is_reported(repo: JobRepository, clock: FakeClock) -> None:
    scheduler = Scheduler(
        repo,
        Dispatcher(repo, InMemoryExecutor()),
        scanner_id="s",
        stall_after_s=60,
        reconcile_every=1,
    )
    [job_id] = queue_jobs(repo, "acme", 1)
    scheduler.tick()
    clock.advance(61)
    assert scheduler.tick().stalled == [job_id]


def test_reconcile_plans_and_repairs(
    repo: JobRepository, videos: VideoRepository, engine: Engine
) -> None:
    executor = InMemoryExecutor()
    settle, missing, ready_empty, unknown = queue_jobs(repo, "acme", 4)
    # A crash left a PROCESSING video whose job is already FAILED.
    job = repo.claim_job_by_id(settle, "w")
    assert job is not None
    with engine.begin() as conn:
        conn.execute(
            update(tables.jobs)
            .where(tables.jobs.c.id == settle)
            .values(state="FAILED", lease_token=None, last_error_code="TRANSCODE_FAILED")
        )
        missing_video = repo.get_job(missing).video_id
        conn.execute(
            update(tables.videos)
            .where(tables.videos.c.id == missing_video)
            .values(current_job_id="00000000-0000-0000-0000-000000000000")
        )
        ready_video = repo.get_job(ready_empty).video_id
        conn.execute(
            update(tables.videos).where(tables.videos.c.id == ready_video).values(status="READY")
        )
    Dispatcher(repo, executor).mark_dispatched(unknown, "mem-gone")
    executor.forgotten.add("mem-gone")

    plan = plan_reconcile(repo, executor)
    kinds = {(fix.kind, fix.video_id) for fix in plan}
    assert kinds == {
        (FixKind.SETTLE_VIDEO, job.video_id),
        (FixKind.REQUEUE_VIDEO, missing_video),
        (FixKind.REQUEUE_VIDEO, ready_video),
        (FixKind.REDISPATCH_JOB, repo.get_job(unknown).video_id),
    }
    fixes = Scheduler(repo, Dispatcher(repo, executor), scanner_id="s").reconcile(apply=True)
    assert len(fixes) == 4
    assert videos.get_video(job.video_id).status is VideoStatus.FAILED
    assert videos.get_video(missing_video).status is VideoStatus.UPLOADED
    assert repo.get_job(videos.get_video(ready_video).current_job_id or "").state is JobState.QUEUED
    assert unknown in Dispatcher(repo, executor).jobs_due()
    assert plan_reconcile(repo, executor) == []


def test_only_one_scheduler_acts(database_url: str, tmp_path: Path) -> None:
    if database_url.startswith("postgresql"):
        first, second = PostgresLeadership(database_url), PostgresLeadership(database_url)
    else:
        lock = tmp_path / "scheduler.lock"
        first, second = FileLeadership(lock), FileLeadership(lock)
    try:
        assert first.acquire()
        assert not second.acquire()
        assert first.acquire(), "the leader keeps acting"
        first.release()
        assert second.acquire(), "a standby takes over once the leader is gone"
    finally:
        first.release()
        second.release()
