"""Webhooks on a real database (SQLite and PostgreSQL) with a real receiver on 127.0.0.1:
the job and video repositories make the changes, the triggers write the outbox, and the
deliverer sends it, all on the test's fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.conftest import FakeClock
from tests.support.webhooks import DelivererFactory, Receiver, receiver
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
from vodforge.webhooks.delivery import DeliveryPolicy, WebhookDeliverer
from vodforge.webhooks.repository import WebhookRepository
from vodforge.webhooks.service import WebhookService
from vodforge.webhooks.urls import Resolver, system_resolver

RETRY_WINDOW_S = 3600.0


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


@pytest.fixture
def tenants_repo(engine: Engine, clock: FakeClock) -> TenantRepository:
    return TenantRepository(engine, clock=clock)


@pytest.fixture
def webhooks_repo(engine: Engine, clock: FakeClock) -> WebhookRepository:
    return WebhookRepository(engine, clock=clock)


@pytest.fixture
def webhook_service(
    webhooks_repo: WebhookRepository, tenants_repo: TenantRepository, clock: FakeClock
) -> WebhookService:
    """Private addresses allowed, as in the embedded mode: the receiver is on loopback."""
    return WebhookService(
        webhooks_repo,
        tenants_repo,
        allow_private=True,
        retry_window_s=RETRY_WINDOW_S,
        clock=clock,
    )


@pytest.fixture
def tenant(
    tenants_repo: TenantRepository, webhook_service: WebhookService, hook: Receiver
) -> Tenant:
    """A tenant whose webhooks go to the test's receiver."""
    created, _ = TenantService(tenants_repo).create("acme", webhook_service.new_endpoint(hook.url))
    return created


@pytest.fixture
def video_service(
    repo: JobRepository, videos: VideoRepository, tenants_repo: TenantRepository, clock: FakeClock
) -> VideoService:
    return VideoService(
        jobs=repo,
        videos=videos,
        tenants=tenants_repo,
        storage=MemoryStorage(),
        telemetry=MemoryTelemetry(clock=clock),
        dispatcher=Dispatcher(repo, InMemoryExecutor()),
        signer=PlaybackSigner(b"test", base_url="http://vod.test", ttl_s=3600, clock=clock),
        max_upload_bytes=1_000_000,
        clock=clock,
    )


@pytest.fixture
def make_deliverer(
    webhooks_repo: WebhookRepository,
    tenants_repo: TenantRepository,
    video_service: VideoService,
) -> Iterator[DelivererFactory]:
    made: list[WebhookDeliverer] = []

    def make(
        *,
        allow_private: bool = True,
        resolve: Resolver = system_resolver,
        cls: type[WebhookDeliverer] = WebhookDeliverer,
        **policy: Any,
    ) -> WebhookDeliverer:
        deliverer = cls(
            webhooks_repo,
            tenants_repo,
            video_service,
            allow_private=allow_private,
            resolve=resolve,
            policy=DeliveryPolicy(**{"retry_window_s": RETRY_WINDOW_S, **policy}),
        )
        made.append(deliverer)
        return deliverer

    yield make
    for deliverer in made:
        deliverer.close()


@pytest.fixture
def deliverer(make_deliverer: DelivererFactory) -> WebhookDeliverer:
    return make_deliverer()
