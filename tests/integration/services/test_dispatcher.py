"""Dispatcher: handing jobs to an executor that tracks them. A failed dispatch keeps the job
QUEUED with the error (never deleted) and the next pass hands it over again."""

from __future__ import annotations

from pathlib import Path

from tests.support.factories import queue_jobs
from vodforge.domain.states import JobState, VideoStatus
from vodforge.executors.local import LocalExecutor
from vodforge.executors.memory import InMemoryExecutor
from vodforge.jobs.dispatch import Dispatcher
from vodforge.jobs.repository import JobRepository
from vodforge.tenants.repository import Tenant
from vodforge.videos.repository import VideoRepository
from vodforge.videos.service import VideoService

INJECTED = "RuntimeError: executor unavailable (injected)"


def test_a_failed_dispatch_keeps_the_job_queued_with_its_error(
    repo: JobRepository, executor: InMemoryExecutor, dispatcher: Dispatcher
) -> None:
    [job_id] = queue_jobs(repo, "acme", 1)
    executor.fail_next = 1

    assert dispatcher.dispatch(job_id) is False

    job = repo.get_job(job_id)
    assert job.state is JobState.QUEUED
    assert job.dispatch_error == INJECTED
    assert job.dispatched_at is None and job.executor_ref is None
    assert executor.dispatched == []
    assert dispatcher.jobs_due() == [job_id], "a failed dispatch is due again"
    assert [e.to_state for e in repo.job_events(job_id)] == [JobState.QUEUED]

    assert dispatcher.dispatch(job_id) is True
    job = repo.get_job(job_id)
    assert job.state is JobState.QUEUED and job.dispatch_error is None
    assert job.executor_ref == "mem-1" and job.dispatched_at is not None
    assert executor.dispatched == [job_id]
    assert dispatcher.jobs_due() == []
    claimed = repo.claim_job("batch-container")
    assert claimed is not None and claimed.id == job_id


def test_dispatch_due_retries_only_what_failed(
    repo: JobRepository, executor: InMemoryExecutor, dispatcher: Dispatcher
) -> None:
    ids = queue_jobs(repo, "acme", 3)
    executor.fail_next = 1

    dispatched, failed = dispatcher.dispatch_due()

    assert len(failed) == 1 and sorted(dispatched + failed) == sorted(ids)
    assert repo.get_job(failed[0]).dispatch_error == INJECTED
    assert dispatcher.dispatch_due() == (failed, [])
    assert sorted(executor.dispatched) == sorted(ids)
    assert dispatcher.dispatch_due() == ([], [])
    assert {repo.get_job(job_id).state for job_id in ids} == {JobState.QUEUED}


def test_a_submission_whose_dispatch_fails_is_kept_and_dispatched_later(
    repo: JobRepository,
    videos: VideoRepository,
    video_service: VideoService,
    executor: InMemoryExecutor,
    dispatcher: Dispatcher,
    tenant: Tenant,
    tmp_path: Path,
) -> None:
    source = tmp_path / "lecture.mp4"
    source.write_bytes(b"not really a video, but stored all the same")
    executor.fail_next = 1

    video = video_service.submit_file(source, tenant)

    assert video.status is VideoStatus.UPLOADED and video.current_job_id is not None
    job = repo.get_job(video.current_job_id)
    assert job.state is JobState.QUEUED and job.dispatch_error == INJECTED
    assert videos.get_video(video.id).current_job_id == job.id
    assert dispatcher.dispatch_due() == ([job.id], [])
    assert repo.get_job(job.id).dispatch_error is None


def test_local_workers_need_no_bookkeeping(repo: JobRepository) -> None:
    """Local workers claim whatever is claimable: nothing is marked, nothing is due."""
    dispatcher = Dispatcher(repo, LocalExecutor(repo.wakeup))
    [job_id] = queue_jobs(repo, "acme", 1)
    seen = repo.wakeup.generation()
    assert dispatcher.dispatch(job_id) is True
    assert repo.wakeup.wait(seen, timeout=1)
    job = repo.get_job(job_id)
    assert job.dispatched_at is None and job.executor_ref is None
    assert dispatcher.dispatch_due() == ([], [])
