"""The outbox: every change worth an event writes exactly one row, in the transaction of the
change, on every code path that makes it (the triggers on videos), and nothing else does."""

from __future__ import annotations

import json

from sqlalchemy import Engine, select, update

from tests.conftest import FakeClock
from tests.support.webhooks import make_failed, make_ready, queued, types_of
from vodforge.db.access import writing
from vodforge.db.tables import videos as videos_table
from vodforge.db.tables import webhook_events
from vodforge.jobs.repository import Failure, JobRepository
from vodforge.tenants.repository import Tenant, TenantRepository
from vodforge.tenants.service import TenantService
from vodforge.videos.service import VideoService
from vodforge.webhooks.records import DeliveryState
from vodforge.webhooks.repository import WebhookRepository


def test_ready_is_recorded_once_with_the_video_as_it_became(
    repo: JobRepository, tenant: Tenant, webhooks_repo: WebhookRepository, clock: FakeClock
) -> None:
    clock.advance(5)
    video_id = make_ready(repo, tenant)  # PostgreSQL: the single-statement complete CTE
    [event] = webhooks_repo.events_of_video(video_id)
    assert event.type == "video.ready"
    assert event.id.startswith("msg_") and len(event.id) == 36
    assert (event.tenant_id, event.state, event.attempts) == (tenant.id, DeliveryState.PENDING, 0)
    assert event.occurred_at == clock.now and event.next_attempt_at == clock.now
    assert event.payload is None  # composed at the first attempt
    assert event.snapshot["status"] == "READY"
    assert json.loads(event.snapshot["package"])["master"].endswith("master.m3u8")
    # The trigger sees the job row the same statement completed.
    assert event.snapshot["job"]["state"] == "SUCCEEDED"


def test_failed_is_recorded_for_permanent_failures_and_exhausted_attempts(
    repo: JobRepository, tenant: Tenant, webhooks_repo: WebhookRepository, clock: FakeClock
) -> None:
    rejected = make_failed(repo, tenant)
    assert types_of(webhooks_repo, rejected) == ["video.failed"]
    [event] = webhooks_repo.events_of_video(rejected)
    assert event.snapshot["error_code"] == "INVALID_INPUT"

    # Retryable failures are not an event until the attempts run out (max_attempts = 3).
    video_id, job_id = queued(repo, tenant, "flaky")
    for attempt in range(3):
        job = repo.claim_job_by_id(job_id, "w")
        assert job is not None
        repo.fail_job(job, Failure("TRANSCODE_FAILED", "boom", retryable=True))
        expected = [] if attempt < 2 else ["video.failed"]
        assert types_of(webhooks_repo, video_id) == expected
        clock.advance(3600)


def test_a_lease_that_expires_for_the_last_time_records_failed(
    repo: JobRepository, tenant: Tenant, webhooks_repo: WebhookRepository, clock: FakeClock
) -> None:
    video_id, job_id = queued(repo, tenant)
    for _ in range(3):
        assert repo.claim_job_by_id(job_id, "w") is not None
        clock.advance(repo.lease_ttl_s + 1)
        repo.expire_stale_leases("scanner")
    assert repo.get_job(job_id).state.value == "DEAD"
    assert types_of(webhooks_repo, video_id) == ["video.failed"]


def test_failed_again_after_a_retry_is_a_second_event(
    repo: JobRepository, tenant: Tenant, webhooks_repo: WebhookRepository
) -> None:
    video_id = make_failed(repo, tenant)
    job_id = repo.retry_video(video_id)
    job = repo.claim_job_by_id(job_id, "w")
    assert job is not None
    repo.fail_job(job, Failure("INVALID_INPUT", "still not a video", retryable=False))
    events = webhooks_repo.events_of_video(video_id)
    assert [e.type for e in events] == ["video.failed", "video.failed"]
    assert events[0].id != events[1].id
    assert events[0].snapshot["current_job_id"] != events[1].snapshot["current_job_id"]


def test_cancelled_is_recorded_for_waiting_and_running_jobs(
    repo: JobRepository, tenant: Tenant, webhooks_repo: WebhookRepository
) -> None:
    waiting, _ = queued(repo, tenant, "waiting")
    repo.cancel_video(waiting)
    assert types_of(webhooks_repo, waiting) == ["video.cancelled"]

    running, job_id = queued(repo, tenant, "running")
    job = repo.claim_job_by_id(job_id, "w")
    assert job is not None
    repo.cancel_video(running)
    assert types_of(webhooks_repo, running) == []  # flagged, still running
    repo.finish_cancelled(job)
    assert types_of(webhooks_repo, running) == ["video.cancelled"]


def test_deleted_is_recorded_with_the_snapshot_and_outlives_the_purge(
    repo: JobRepository,
    tenant: Tenant,
    webhooks_repo: WebhookRepository,
    video_service: VideoService,
) -> None:
    video_id = make_ready(repo, tenant)
    result = video_service.delete(video_id, tenant)
    assert result["purged"] is True
    events = webhooks_repo.events_of_video(video_id)
    assert [e.type for e in events] == ["video.ready", "video.deleted"]
    assert events[1].snapshot["status"] == "READY"
    assert events[1].snapshot["title"] == "ready"


def test_deleting_a_queued_video_records_cancelled_then_deleted(
    repo: JobRepository,
    tenant: Tenant,
    webhooks_repo: WebhookRepository,
    video_service: VideoService,
) -> None:
    video_id, _ = queued(repo, tenant)
    video_service.delete(video_id, tenant)
    assert types_of(webhooks_repo, video_id) == ["video.cancelled", "video.deleted"]


def test_a_deleted_video_records_nothing_after_deleted(
    repo: JobRepository,
    tenant: Tenant,
    webhooks_repo: WebhookRepository,
    video_service: VideoService,
) -> None:
    video_id, job_id = queued(repo, tenant)
    job = repo.claim_job_by_id(job_id, "w")
    assert job is not None
    assert video_service.delete(video_id, tenant)["purged"] is False  # its job still runs
    repo.finish_cancelled(job)  # the worker stops at its next heartbeat
    assert types_of(webhooks_repo, video_id) == ["video.deleted"]


def test_no_change_no_event_and_no_url_no_event(
    repo: JobRepository,
    tenant: Tenant,
    tenants_repo: TenantRepository,
    webhooks_repo: WebhookRepository,
    engine: Engine,
) -> None:
    video_id = make_ready(repo, tenant)
    with writing(engine) as conn:  # a write that keeps the status is not a change
        conn.execute(
            update(videos_table).where(videos_table.c.id == video_id).values(title="renamed")
        )
        conn.execute(
            update(videos_table).where(videos_table.c.id == video_id).values(status="READY")
        )
    assert types_of(webhooks_repo, video_id) == ["video.ready"]

    quiet, _ = TenantService(tenants_repo).create("quiet")
    assert types_of(webhooks_repo, make_ready(repo, quiet)) == []
    assert types_of(webhooks_repo, make_failed(repo, quiet)) == []


def test_the_event_is_part_of_the_transaction_of_the_change(
    repo: JobRepository, tenant: Tenant, engine: Engine
) -> None:
    """A change rolled back leaves no event behind."""
    video_id, _ = queued(repo, tenant)
    try:
        with writing(engine) as conn:
            conn.execute(
                update(videos_table)
                .where(videos_table.c.id == video_id)
                .values(status="FAILED", error_code="X")
            )
            assert conn.execute(select(webhook_events.c.type)).scalars().all() == ["video.failed"]
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    with engine.connect() as conn:
        assert conn.execute(select(webhook_events)).first() is None


def test_the_outbox_triggers_exist(engine: Engine) -> None:
    """On SQLite a migration that alters `videos` in batch mode (a table copy) would drop
    these silently, and events would stop without an error: this names the cause."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT tgname FROM pg_trigger"
                " WHERE tgrelid = 'videos'::regclass AND NOT tgisinternal"
            )
        else:
            rows = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'videos'"
            )
        assert {row[0] for row in rows} == {"video_status_webhook", "video_deleted_webhook"}
