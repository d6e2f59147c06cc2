"""Deleting a video in any state through VideoService: gone from every read at once, its job
cancelled, and its rows and stored objects purged as soon as no job of it can still write."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from tests.conftest import FakeClock
from vodforge.db.tables import job_events, jobs, videos
from vodforge.domain.states import JobState
from vodforge.errors import NotFound
from vodforge.jobs.repository import Failure, JobRepository
from vodforge.storage.base import attempt_prefix, source_key, video_prefix
from vodforge.storage.memory import MemoryStorage
from vodforge.tenants.repository import Tenant
from vodforge.tenants.service import TenantService
from vodforge.videos.repository import VideoRepository
from vodforge.videos.service import VideoService


def stored_video(repo: JobRepository, storage: MemoryStorage, tenant: Tenant) -> tuple[str, str]:
    """An uploaded video with its source in storage and its QUEUED job; (video id, job id)."""
    video_id = "11111111-2222-3333-4444-555555555555"
    key = source_key(video_id, "mp4")
    storage.put_bytes(key, b"source bytes")
    return repo.create_video_and_job(
        tenant.id, "lecture", source_key=key, source_bytes=12, video_id=video_id
    )


def rows_of(engine: Engine, video_id: str) -> dict[str, int]:
    """How many rows the video still has in each table, deleted or not."""
    with engine.connect() as conn:
        job_ids = select(jobs.c.id).where(jobs.c.video_id == video_id).scalar_subquery()
        return {
            "videos": conn.execute(
                select(func.count()).select_from(videos).where(videos.c.id == video_id)
            ).scalar_one(),
            "jobs": conn.execute(
                select(func.count()).select_from(jobs).where(jobs.c.video_id == video_id)
            ).scalar_one(),
            "job_events": conn.execute(
                select(func.count()).select_from(job_events).where(job_events.c.job_id.in_(job_ids))
            ).scalar_one(),
        }


def assert_hidden(
    video_service: VideoService, videos_repo: VideoRepository, tenant: Tenant, video_id: str
) -> None:
    assert videos_repo.find_video(video_id) is None
    with pytest.raises(NotFound):
        video_service.show(video_id, tenant)
    with pytest.raises(NotFound):
        video_service.events(video_id)
    assert video_id not in [item["id"] for item in video_service.page(tenant).items]
    with pytest.raises(NotFound):
        video_service.delete(video_id, tenant)


def test_a_queued_video_is_cancelled_and_purged_at_once(
    repo: JobRepository,
    videos: VideoRepository,
    video_service: VideoService,
    storage: MemoryStorage,
    tenant: Tenant,
    engine: Engine,
) -> None:
    video_id, job_id = stored_video(repo, storage, tenant)
    assert rows_of(engine, video_id) == {"videos": 1, "jobs": 1, "job_events": 1}

    result = video_service.delete(video_id, tenant)

    assert result == {"ok": True, "id": video_id, "purged": True, "objects": 1}
    assert_hidden(video_service, videos, tenant, video_id)
    assert storage.list_keys(video_prefix(video_id)) == []
    assert rows_of(engine, video_id) == {"videos": 0, "jobs": 0, "job_events": 0}
    assert repo.find_job(job_id) is None
    assert repo.claim_job("w") is None, "the deleted video's job never runs"
    assert repo.backlog().backlog == 0


def test_a_running_video_is_hidden_at_once_and_purged_after_its_worker_stops(
    repo: JobRepository,
    videos: VideoRepository,
    video_service: VideoService,
    storage: MemoryStorage,
    tenant: Tenant,
    engine: Engine,
) -> None:
    video_id, job_id = stored_video(repo, storage, tenant)
    job = repo.claim_job("worker-1")
    assert job is not None and job.id == job_id
    # The attempt has written some of its package already.
    partial = attempt_prefix(video_id, job_id, job.attempt) + "480p/seg-1.m4s"
    storage.put_bytes(partial, b"segment")

    result = video_service.delete(video_id, tenant)

    assert result == {"ok": True, "id": video_id, "purged": False, "objects": None}
    assert_hidden(video_service, videos, tenant, video_id)
    record = repo.get_job(job_id)
    assert record.state is JobState.RUNNING and record.cancel_requested
    # While the worker may still write, the scheduler's pass leaves everything in place.
    assert video_service.purge_deleted() == []
    assert len(storage.list_keys(video_prefix(video_id))) == 2
    assert rows_of(engine, video_id)["videos"] == 1 and repo.find_job(job_id) is not None

    # The worker sees the cancel at its next heartbeat and ends the job.
    assert repo.renew_lease(job) is True
    assert repo.finish_cancelled(job) is JobState.CANCELLED
    assert videos.find_video(video_id) is None, "a settled job does not bring the video back"

    assert video_service.purge_deleted() == [video_id]
    assert storage.list_keys(video_prefix(video_id)) == []
    assert rows_of(engine, video_id) == {"videos": 0, "jobs": 0, "job_events": 0}
    assert video_service.purge_deleted() == []


def test_a_running_job_whose_worker_died_is_purged_once_its_lease_expires(
    repo: JobRepository,
    video_service: VideoService,
    storage: MemoryStorage,
    tenant: Tenant,
    engine: Engine,
    clock: FakeClock,
) -> None:
    video_id, _ = stored_video(repo, storage, tenant)
    assert repo.claim_job("worker-1") is not None
    video_service.delete(video_id, tenant)
    assert video_service.purge_deleted() == []

    clock.advance(repo.lease_ttl_s + 1)
    [expired] = repo.expire_stale_leases("scanner")
    assert expired.state is JobState.CANCELLED
    assert video_service.purge_deleted() == [video_id]
    assert rows_of(engine, video_id)["videos"] == 0
    assert storage.list_keys(video_prefix(video_id)) == []


@pytest.mark.parametrize("ending", ["ready", "failed", "cancelled", "retry_wait"])
def test_a_video_in_any_other_state_is_purged_at_once(
    repo: JobRepository,
    videos: VideoRepository,
    video_service: VideoService,
    storage: MemoryStorage,
    tenant: Tenant,
    engine: Engine,
    ending: str,
) -> None:
    video_id, job_id = stored_video(repo, storage, tenant)
    job = repo.claim_job("w")
    assert job is not None
    package_key = attempt_prefix(video_id, job_id, 1) + "master.m3u8"
    storage.put_bytes(package_key, b"#EXTM3U\n")
    if ending == "ready":
        repo.complete_job(job, {"prefix": attempt_prefix(video_id, job_id, 1)})
    elif ending == "failed":
        repo.fail_job(job, Failure("INVALID_INPUT", "not a video", retryable=False))
    elif ending == "cancelled":
        repo.cancel_video(video_id)
        repo.finish_cancelled(job)
    else:
        repo.fail_job(job, Failure("TRANSCODE_FAILED", "killed", retryable=True), retry_delay_s=60)

    result = video_service.delete(video_id, tenant)

    assert result == {"ok": True, "id": video_id, "purged": True, "objects": 2}
    assert_hidden(video_service, videos, tenant, video_id)
    assert storage.list_keys(video_prefix(video_id)) == []
    assert rows_of(engine, video_id) == {"videos": 0, "jobs": 0, "job_events": 0}
    assert repo.claim_job("w") is None


def test_a_video_is_deleted_only_by_its_own_tenant(
    repo: JobRepository,
    videos: VideoRepository,
    video_service: VideoService,
    tenant_service: TenantService,
    storage: MemoryStorage,
    tenant: Tenant,
) -> None:
    video_id, job_id = stored_video(repo, storage, tenant)
    other = tenant_service.ensure("other")
    with pytest.raises(NotFound):
        video_service.delete(video_id, other)
    assert videos.find_video(video_id) is not None
    assert repo.get_job(job_id).state is JobState.QUEUED
    assert storage.list_keys(video_prefix(video_id)) == [source_key(video_id, "mp4")]
    with pytest.raises(NotFound):
        video_service.delete("not-a-uuid", tenant)


def test_other_videos_are_untouched(
    repo: JobRepository,
    videos: VideoRepository,
    video_service: VideoService,
    storage: MemoryStorage,
    tenant: Tenant,
    clock: FakeClock,
) -> None:
    video_id, _ = stored_video(repo, storage, tenant)
    clock.advance(1)
    keep_id = "99999999-8888-7777-6666-555555555555"
    keep_key = source_key(keep_id, "mp4")
    storage.put_bytes(keep_key, b"kept")
    _, keep_job = repo.create_video_and_job(
        tenant.id, "keep", source_key=keep_key, source_bytes=4, video_id=keep_id
    )

    video_service.delete(video_id, tenant)

    assert [v.id for v in videos.list_videos(tenant.id)] == [keep_id]
    assert storage.list_keys(video_prefix(keep_id)) == [keep_key]
    assert repo.get_job(keep_job).state is JobState.QUEUED
    assert len(videos.video_events(keep_id)) == 1
