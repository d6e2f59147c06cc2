"""Delivery to a real receiver: signed per Standard Webhooks, retried with backoff under the
same webhook-id and body, at least once across crashes and scheduler restarts, FAILED once
the retry window closes."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import Engine
from standardwebhooks import Webhook

from tests.conftest import FakeClock
from tests.support.webhooks import (
    DelivererFactory,
    Receiver,
    make_failed,
    make_ready,
    queued,
    types_of,
)
from tests.support.webhooks import receiver as start_receiver
from vodforge.executors.memory import InMemoryExecutor
from vodforge.jobs.dispatch import Dispatcher
from vodforge.jobs.repository import JobRepository
from vodforge.scheduler import Scheduler
from vodforge.tenants.repository import Tenant, TenantRepository
from vodforge.videos.service import VideoService
from vodforge.webhooks.delivery import BackgroundDelivery, WebhookDeliverer
from vodforge.webhooks.records import Attempt, ClaimedEvent, DeliveryState
from vodforge.webhooks.repository import WebhookRepository
from vodforge.webhooks.service import WebhookService


def secret_of(tenants_repo: TenantRepository, tenant: Tenant) -> str:
    endpoint = tenants_repo.webhook_endpoint(tenant.id)
    assert endpoint is not None
    return endpoint.secret


def test_the_signature_verifies_and_the_body_is_the_spec_shape(
    repo: JobRepository,
    tenant: Tenant,
    tenants_repo: TenantRepository,
    hook: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    video_id = make_ready(repo, tenant)
    [result] = deliverer.deliver_due()
    assert result.state is DeliveryState.DELIVERED
    [request] = hook.received
    body = Webhook(secret_of(tenants_repo, tenant)).verify(request.body, request.headers)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert set(body) == {"type", "id", "created_at", "data"}
    assert (body["type"], body["id"]) == ("video.ready", request.webhook_id)
    data = body["data"]
    assert (data["id"], data["status"], data["tenant"]) == (video_id, "READY", "acme")
    assert data["playback_url"].startswith("http://vod.test/")
    assert data["job"]["state"] == "SUCCEEDED" and data["error"] is None
    # A signature made with another secret does not verify.
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 32).verify(request.body, request.headers)


def test_each_event_type_is_delivered_once(
    repo: JobRepository,
    tenant: Tenant,
    hook: Receiver,
    deliverer: WebhookDeliverer,
    video_service: VideoService,
) -> None:
    make_ready(repo, tenant)
    make_failed(repo, tenant)
    cancelled, _ = queued(repo, tenant, "cancelled")
    repo.cancel_video(cancelled)
    deleted = make_ready(repo, tenant, "deleted")
    video_service.delete(deleted, tenant)
    assert len(deliverer.deliver_due()) == 5
    assert deliverer.deliver_due() == []
    types = Counter(request.json()["type"] for request in hook.received)
    assert types == {"video.ready": 2, "video.failed": 1, "video.cancelled": 1, "video.deleted": 1}
    gone = next(r.json() for r in hook.received if r.json()["type"] == "video.deleted")
    # Built from the snapshot although the video is purged; a deleted video plays nowhere.
    assert (gone["data"]["id"], gone["data"]["status"]) == (deleted, "READY")
    assert gone["data"]["playback_url"] is None
    failed = next(r.json() for r in hook.received if r.json()["type"] == "video.failed")
    assert failed["data"]["error"] == {"code": "INVALID_INPUT", "message": "not a video"}
    assert len({request.webhook_id for request in hook.received}) == 5


def test_a_failing_receiver_is_retried_with_backoff_under_one_id(
    repo: JobRepository,
    tenant: Tenant,
    tenants_repo: TenantRepository,
    hook: Receiver,
    deliverer: WebhookDeliverer,
    webhooks_repo: WebhookRepository,
    clock: FakeClock,
) -> None:
    hook.script(500, 503, 200)
    video_id = make_ready(repo, tenant)
    waits = []
    while True:
        results = deliverer.deliver_due()
        if results and results[0].state is DeliveryState.DELIVERED:
            break
        [event] = webhooks_repo.events_of_video(video_id)
        assert event.state is DeliveryState.PENDING
        waits.append(event.next_attempt_at - clock.now)
        assert deliverer.deliver_due() == []  # not due before its backoff
        clock.advance(event.next_attempt_at - clock.now)
    assert len(waits) == 2 and 8 <= waits[0] <= 12 and 16 <= waits[1] <= 24  # 10 s, 20 s ±20 %
    assert [r.headers["webhook-id"] for r in hook.received] == [hook.received[0].webhook_id] * 3
    assert len({r.body for r in hook.received}) == 1  # the same bytes every time
    for request in hook.received:
        Webhook(secret_of(tenants_repo, tenant)).verify(request.body, request.headers)
    [event] = webhooks_repo.events_of_video(video_id)
    assert (event.state, event.attempts, event.last_status) == (DeliveryState.DELIVERED, 3, 200)
    log = webhooks_repo.attempts_of(event.id)
    assert [a.status_code for a in log] == [500, 503, 200]
    assert log[0].error == "HTTP 500" and log[2].error is None


def test_after_the_retry_window_the_event_is_failed(
    repo: JobRepository,
    tenant: Tenant,
    hook: Receiver,
    make_deliverer: DelivererFactory,
    webhooks_repo: WebhookRepository,
    clock: FakeClock,
) -> None:
    hook.script(500)
    deliverer = make_deliverer(retry_window_s=300.0)
    video_id = make_ready(repo, tenant)
    started = clock.now
    for _ in range(50):
        deliverer.deliver_due()
        [event] = webhooks_repo.events_of_video(video_id)
        if event.state is not DeliveryState.PENDING:
            break
        assert event.next_attempt_at <= started + 300.0
        clock.advance(event.next_attempt_at - clock.now)
    assert event.state is DeliveryState.FAILED
    assert event.last_status == 500 and event.attempts == len(hook.received)
    assert clock.now == started + 300.0  # the last attempt is at the end of the window
    clock.advance(86400)
    assert deliverer.deliver_due() == []


def test_a_crash_between_sending_and_marking_resends_the_same_id(
    repo: JobRepository,
    tenant: Tenant,
    hook: Receiver,
    make_deliverer: DelivererFactory,
    webhooks_repo: WebhookRepository,
    clock: FakeClock,
) -> None:
    class CrashAfterSend(WebhookDeliverer):
        def record_outcome(
            self, claim: ClaimedEvent, attempt: Attempt, *, final: bool = False
        ) -> object:
            raise RuntimeError("the process died after the receiver answered")

    make_ready(repo, tenant)
    crashing = make_deliverer(cls=CrashAfterSend)
    with pytest.raises(RuntimeError, match="died"):
        crashing.deliver_due()
    assert len(hook.received) == 1
    survivor = make_deliverer()
    assert survivor.deliver_due() == []  # the dead attempt's lease still holds the event
    clock.advance(survivor.policy.lease_s)
    [result] = survivor.deliver_due()
    assert result.state is DeliveryState.DELIVERED
    first, second = hook.received
    assert second.webhook_id == first.webhook_id and second.body == first.body
    event = webhooks_repo.find(first.webhook_id)
    assert event is not None and event.attempts == 2


@pytest.mark.slow
def test_nothing_is_lost_across_a_scheduler_restart(
    engine: Engine,
    clock: FakeClock,
    repo: JobRepository,
    tenant: Tenant,
    tenants_repo: TenantRepository,
    video_service: VideoService,
    hook: Receiver,
) -> None:
    """Events left pending by one scheduler are delivered by the next, through the real
    scheduler tick and its housekeeping step."""

    def scheduler() -> tuple[Scheduler, BackgroundDelivery]:
        # Everything built afresh over the same database, as a restarted process would.
        deliverer = WebhookDeliverer(
            WebhookRepository(engine, clock=clock),
            TenantRepository(engine, clock=clock),
            video_service,
            allow_private=True,
        )
        delivery = BackgroundDelivery(deliverer)
        jobs = JobRepository(engine, clock=clock)
        tick = Scheduler(
            jobs,
            Dispatcher(jobs, InMemoryExecutor()),
            scanner_id="scheduler",
            housekeeping=delivery.step,
        )
        return tick, delivery

    hook.script(503)
    video_ids = [make_ready(repo, tenant, f"v{n}") for n in range(3)]
    first, first_delivery = scheduler()
    first.tick()
    assert first_delivery.wait_idle(30)
    assert len(hook.received) == 3
    first_delivery.deliverer.close()
    del first, first_delivery  # the scheduler stops; its events stay in the table

    hook.script(200)
    clock.advance(60)
    second, second_delivery = scheduler()
    second.tick()
    assert second_delivery.wait_idle(30)
    second_delivery.deliverer.close()
    assert len(hook.received) == 6
    repository = WebhookRepository(engine, clock=clock)
    for video_id in video_ids:
        [event] = repository.events_of_video(video_id)
        assert event.state is DeliveryState.DELIVERED
        sent = [r for r in hook.received if r.webhook_id == event.id]
        assert len(sent) == 2 and sent[0].body == sent[1].body


@pytest.mark.slow
def test_concurrent_deliverers_never_send_one_attempt_twice(
    repo: JobRepository, tenant: Tenant, hook: Receiver, make_deliverer: DelivererFactory
) -> None:
    for n in range(12):
        make_ready(repo, tenant, f"v{n}")
    deliverers = [make_deliverer() for _ in range(4)]
    threads = [threading.Thread(target=d.deliver_due) for d in deliverers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert Counter(request.webhook_id for request in hook.received).most_common(1)[0][1] == 1
    assert len(hook.received) == 12


def test_redirects_are_not_followed(
    repo: JobRepository,
    tenant: Tenant,
    hook: Receiver,
    deliverer: WebhookDeliverer,
) -> None:
    hook.script(302)
    hook.extra_headers["location"] = hook.url + "/elsewhere"
    make_ready(repo, tenant)
    [result] = deliverer.deliver_due()
    assert result.state is DeliveryState.PENDING
    assert result.attempt.error == "HTTP 302 (redirects are not followed)"
    assert [request.path for request in hook.received] == ["/hooks"]


def test_an_unreachable_receiver_is_retried(
    repo: JobRepository,
    tenant: Tenant,
    tenants_repo: TenantRepository,
    webhook_service: WebhookService,
    deliverer: WebhookDeliverer,
    webhooks_repo: WebhookRepository,
    clock: FakeClock,
) -> None:
    with start_receiver() as gone:
        url = gone.url
    webhook_service.set_url(tenant, url)  # nothing listens there any more
    video_id = make_ready(repo, tenant)
    [result] = deliverer.deliver_due()
    assert result.state is DeliveryState.PENDING
    assert result.attempt.status_code is None and result.attempt.error
    with start_receiver() as back:
        webhook_service.set_url(tenant, back.url)
        clock.advance(60)
        [result] = deliverer.deliver_due()
        assert result.state is DeliveryState.DELIVERED
        assert back.received[0].webhook_id == webhooks_repo.events_of_video(video_id)[0].id


def test_turning_webhooks_off_fails_pending_events(
    repo: JobRepository,
    tenant: Tenant,
    hook: Receiver,
    webhook_service: WebhookService,
    deliverer: WebhookDeliverer,
) -> None:
    make_ready(repo, tenant)
    webhook_service.disable(tenant)
    [result] = deliverer.deliver_due()
    assert result.state is DeliveryState.FAILED
    assert result.attempt.error == "webhooks are disabled for this tenant"
    assert hook.received == []
    # While webhooks are off no event is written at all.
    assert types_of(WebhookRepository(repo.engine), make_failed(repo, tenant, "after")) == []


def test_a_rotated_secret_signs_the_retries(
    repo: JobRepository,
    tenant: Tenant,
    tenants_repo: TenantRepository,
    hook: Receiver,
    webhook_service: WebhookService,
    deliverer: WebhookDeliverer,
    clock: FakeClock,
) -> None:
    hook.script(500, 200)
    make_ready(repo, tenant)
    old = secret_of(tenants_repo, tenant)
    deliverer.deliver_due()
    new = webhook_service.rotate_secret(tenant)["secret"]
    assert new != old and new.startswith("whsec_")
    clock.advance(60)
    deliverer.deliver_due()
    first, second = hook.received
    Webhook(old).verify(first.body, first.headers)
    Webhook(new).verify(second.body, second.headers)
    with pytest.raises(Exception, match="signature"):
        Webhook(old).verify(second.body, second.headers)
