"""What the outbox offers besides delivery: counts for metrics, and pruning of old events."""

from __future__ import annotations

from tests.conftest import FakeClock
from tests.support.webhooks import Receiver, make_failed, make_ready
from vodforge.jobs.repository import JobRepository
from vodforge.tenants.repository import Tenant
from vodforge.webhooks.delivery import BackgroundDelivery, WebhookDeliverer
from vodforge.webhooks.records import WebhookCounts
from vodforge.webhooks.repository import WebhookRepository
from vodforge.webhooks.service import WebhookService


def test_counts_follow_deliveries_and_failures(
    repo: JobRepository,
    tenant: Tenant,
    hook: Receiver,
    deliverer: WebhookDeliverer,
    webhook_service: WebhookService,
    clock: FakeClock,
) -> None:
    assert webhook_service.counts() == WebhookCounts(0, 0, 0, 0, 0)
    hook.script(500, 200)
    make_ready(repo, tenant)
    make_failed(repo, tenant)
    assert webhook_service.counts() == WebhookCounts(2, 0, 0, 0, 0)
    deliverer.deliver_due()  # one 500, one 200
    assert webhook_service.counts() == WebhookCounts(1, 1, 0, 2, 1)
    clock.advance(60)
    deliverer.deliver_due()
    assert webhook_service.counts() == WebhookCounts(0, 2, 0, 3, 1)


def test_old_finished_events_are_pruned_and_pending_ones_kept(
    repo: JobRepository,
    tenant: Tenant,
    hook: Receiver,
    deliverer: WebhookDeliverer,
    webhooks_repo: WebhookRepository,
    clock: FakeClock,
) -> None:
    delivered = make_ready(repo, tenant, "delivered")
    deliverer.deliver_due()
    [old] = webhooks_repo.events_of_video(delivered)
    hook.script(500)
    pending = make_ready(repo, tenant, "pending")
    deliverer.deliver_due()
    upkeep = BackgroundDelivery(deliverer, retention_s=7 * 86400, prune_every_s=3600)
    clock.advance(6 * 86400)
    upkeep.step()  # the first step prunes; nothing is old enough yet
    assert len(webhooks_repo.events_of_video(delivered)) == 1
    clock.advance(2 * 86400)
    upkeep.step()
    assert upkeep.wait_idle(30)
    assert webhooks_repo.events_of_video(delivered) == []
    assert webhooks_repo.attempts_of(old.id) == []  # its attempts went with it
    # Retried by the step's threads past its window: FAILED just now, so kept for 7 days more.
    [still] = webhooks_repo.events_of_video(pending)
    assert still.state.value == "FAILED"
    assert len(webhooks_repo.attempts_of(still.id)) == 2
