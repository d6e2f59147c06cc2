"""The service layer on a real database: tenant and video services over their repositories,
with in-memory storage, telemetry and executor, all on the test's fake clock."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.conftest import FakeClock
from vodforge.executors.memory import InMemoryExecutor
from vodforge.jobs.dispatch import Dispatcher
from vodforge.jobs.repository import JobRepository
from vodforge.playback.signing import PlaybackSigner
from vodforge.storage.memory import MemoryStorage
from vodforge.telemetry.memory import MemoryTelemetry
from vodforge.tenants.repository import Tenant, TenantRepository
from vodforge.tenants.service import TenantService
from vodforge.videos.repository import VideoRepository
from vodforge.videos.service import VideoService

MAX_UPLOAD_BYTES = 1_000_000


@pytest.fixture
def tenant_service(engine: Engine, clock: FakeClock) -> TenantService:
    return TenantService(TenantRepository(engine, clock=clock))


@pytest.fixture
def tenant(tenant_service: TenantService) -> Tenant:
    created, _ = tenant_service.create("acme")
    return created


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def executor() -> InMemoryExecutor:
    return InMemoryExecutor()


@pytest.fixture
def dispatcher(repo: JobRepository, executor: InMemoryExecutor) -> Dispatcher:
    return Dispatcher(repo, executor)


@pytest.fixture
def video_service(
    repo: JobRepository,
    videos: VideoRepository,
    tenant_service: TenantService,
    storage: MemoryStorage,
    dispatcher: Dispatcher,
    clock: FakeClock,
) -> VideoService:
    return VideoService(
        jobs=repo,
        videos=videos,
        tenants=tenant_service.tenants,
        storage=storage,
        telemetry=MemoryTelemetry(clock=clock),
        dispatcher=dispatcher,
        signer=PlaybackSigner(b"test", base_url="http://vod.test", ttl_s=3600, clock=clock),
        max_upload_bytes=MAX_UPLOAD_BYTES,
        clock=clock,
    )
