"""Direct uploads: a PENDING_UPLOAD video becomes UPLOADED with a QUEUED job exactly once,
and one whose upload never arrives is dropped by the scheduler's pass."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from tests.conftest import FakeClock
from vodforge.db.tables import videos as video_rows
from vodforge.domain.states import JobState, VideoStatus
from vodforge.errors import Conflict, NotFound
from vodforge.executors.memory import InMemoryExecutor
from vodforge.jobs.repository import JobRepository
from vodforge.storage.base import source_key
from vodforge.storage.memory import MemoryStorage
from vodforge.tenants.repository import Tenant
from vodforge.tenants.service import TenantService
from vodforge.videos.repository import VideoRepository
from vodforge.videos.service import VideoService

VIDEO_ID = "0f0f0f0f-1111-2222-3333-444444444444"
SIZE = 2048


def pending(videos: VideoRepository, tenant: Tenant, clock: FakeClock, ttl_s: float = 3600) -> str:
    """A direct upload's video, waiting for its source object; returns the source key."""
    key = source_key(VIDEO_ID, "mp4")
    videos.insert_pending_upload(
        VIDEO_ID,
        tenant.id,
        "direct",
        source_key=key,
        source_bytes=SIZE,
        expires_at=clock.now + ttl_s,
    )
    return key


def upload_expiry(engine: Engine) -> float | None:
    with engine.connect() as conn:
        return conn.execute(
            select(video_rows.c.upload_expires_at).where(video_rows.c.id == VIDEO_ID)
        ).scalar_one()


def test_a_pending_upload_is_queued_once(
    repo: JobRepository,
    videos: VideoRepository,
    tenant: Tenant,
    clock: FakeClock,
    engine: Engine,
) -> None:
    pending(videos, tenant, clock)
    video = videos.get_video(VIDEO_ID)
    assert video.status is VideoStatus.PENDING_UPLOAD and video.current_job_id is None
    assert repo.claim_job("w") is None, "nothing to run before the upload arrives"

    job_id = repo.queue_pending_upload(VIDEO_ID, tenant.id, SIZE)

    video = videos.get_video(VIDEO_ID)
    assert video.status is VideoStatus.UPLOADED and video.current_job_id == job_id
    assert video.source_bytes == SIZE
    assert upload_expiry(engine) is None, "a completed upload never expires"
    job = repo.get_job(job_id)
    assert (job.state, job.video_id, job.tenant_id) == (JobState.QUEUED, VIDEO_ID, tenant.id)
    assert [(e.from_state, e.to_state) for e in repo.job_events(job_id)] == [
        (None, JobState.QUEUED)
    ]

    with pytest.raises(Conflict):
        repo.queue_pending_upload(VIDEO_ID, tenant.id, SIZE)
    assert [j.id for j in repo.jobs_of_video(VIDEO_ID)] == [job_id]
    claimed = repo.claim_job("w")
    assert claimed is not None and claimed.id == job_id


def test_only_the_owner_can_complete_a_pending_upload(
    repo: JobRepository,
    videos: VideoRepository,
    tenant_service: TenantService,
    tenant: Tenant,
    clock: FakeClock,
) -> None:
    pending(videos, tenant, clock)
    other = tenant_service.ensure("other")
    with pytest.raises(Conflict):
        repo.queue_pending_upload(VIDEO_ID, other.id, SIZE)
    with pytest.raises(Conflict):
        repo.queue_pending_upload("00000000-0000-0000-0000-000000000000", tenant.id, SIZE)
    assert videos.get_video(VIDEO_ID).status is VideoStatus.PENDING_UPLOAD
    assert repo.jobs_of_video(VIDEO_ID) == []


def test_a_deleted_pending_upload_cannot_be_completed(
    repo: JobRepository, videos: VideoRepository, tenant: Tenant, clock: FakeClock
) -> None:
    pending(videos, tenant, clock)
    videos.mark_deleted(VIDEO_ID)
    with pytest.raises(Conflict):
        repo.queue_pending_upload(VIDEO_ID, tenant.id, SIZE)
    assert repo.jobs_of_video(VIDEO_ID) == []


def test_completing_through_the_service_checks_the_object_then_dispatches(
    repo: JobRepository,
    videos: VideoRepository,
    video_service: VideoService,
    storage: MemoryStorage,
    executor: InMemoryExecutor,
    tenant: Tenant,
    clock: FakeClock,
) -> None:
    key = pending(videos, tenant, clock)
    with pytest.raises(Conflict, match="has not arrived"):
        video_service.complete_direct_upload(VIDEO_ID, tenant)
    storage.put_bytes(key, b"x" * (SIZE - 1))
    with pytest.raises(Conflict, match="announced"):
        video_service.complete_direct_upload(VIDEO_ID, tenant)
    assert videos.get_video(VIDEO_ID).status is VideoStatus.PENDING_UPLOAD

    storage.put_bytes(key, b"x" * SIZE)
    shown = video_service.complete_direct_upload(VIDEO_ID, tenant)

    assert shown["status"] == "UPLOADED" and shown["job"]["state"] == "QUEUED"
    assert shown["queue_position"] == 1
    assert executor.dispatched == [shown["job"]["id"]]
    with pytest.raises(Conflict):
        video_service.complete_direct_upload(VIDEO_ID, tenant)
    assert executor.dispatched == [shown["job"]["id"]]


def test_an_abandoned_upload_is_dropped_by_the_scheduler_pass(
    repo: JobRepository,
    videos: VideoRepository,
    video_service: VideoService,
    storage: MemoryStorage,
    tenant: Tenant,
    clock: FakeClock,
) -> None:
    key = pending(videos, tenant, clock, ttl_s=60)
    storage.put_bytes(key, b"x" * 10)  # half an upload
    assert video_service.purge_deleted() == []
    assert videos.find_video(VIDEO_ID) is not None

    clock.advance(61)
    assert video_service.purge_deleted() == [VIDEO_ID]
    assert videos.find_video(VIDEO_ID) is None
    assert storage.list_keys(f"videos/{VIDEO_ID}/") == []
    with pytest.raises(NotFound):
        video_service.complete_direct_upload(VIDEO_ID, tenant)
