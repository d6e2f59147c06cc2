"""The SSRF guard outside the embedded mode: URLs into the deployment's own network are
refused when configured and again at delivery, on the addresses the name resolves to then;
the embedded mode (private addresses allowed) sends to them."""

from __future__ import annotations

import pytest

from tests.support.webhooks import DelivererFactory, Receiver, make_ready
from vodforge.jobs.repository import JobRepository
from vodforge.tenants.repository import Tenant, TenantRepository, WebhookEndpoint
from vodforge.webhooks import urls
from vodforge.webhooks.records import DeliveryState
from vodforge.webhooks.repository import WebhookRepository
from vodforge.webhooks.service import WebhookService
from vodforge.webhooks.signing import new_secret
from vodforge.webhooks.urls import UrlRefused

PUBLIC = "93.184.215.14"


def resolver(answers: dict[str, list[str]]) -> urls.Resolver:
    """A DNS stand-in: the test decides what each name resolves to, and when."""

    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            return urls.system_resolver(host, port)
        return answers[host]

    return resolve


@pytest.fixture
def guarded(
    webhooks_repo: WebhookRepository, tenants_repo: TenantRepository
) -> tuple[WebhookService, dict[str, list[str]]]:
    """The webhook service of a deployment that only sends to public addresses."""
    answers = {"hooks.example": [PUBLIC]}
    service = WebhookService(
        webhooks_repo,
        tenants_repo,
        allow_private=False,
        retry_window_s=3600,
        resolve=resolver(answers),
    )
    return service, answers


INTERNAL_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",  # a name that resolves to loopback
    "http://[::1]/hook",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://10.0.0.5/hook",
    "http://192.168.1.20/hook",
    "http://[fd00::5]/hook",
    "http://0.0.0.0:8000/",
]


def test_internal_urls_are_refused_when_configured(
    guarded: tuple[WebhookService, dict[str, list[str]]], tenant: Tenant
) -> None:
    service, _ = guarded
    before = service.endpoint(tenant)
    for url in INTERNAL_URLS:
        with pytest.raises(UrlRefused, match="only sends webhooks to public addresses"):
            service.set_url(tenant, url)
        with pytest.raises(UrlRefused):
            service.new_endpoint(url)
    assert service.endpoint(tenant) == before  # nothing changed


def test_a_public_url_is_accepted(
    guarded: tuple[WebhookService, dict[str, list[str]]], tenant: Tenant
) -> None:
    service, _ = guarded
    assert service.set_url(tenant, "https://hooks.example/in")["url"] == "https://hooks.example/in"


def test_a_name_rebound_to_loopback_is_refused_at_delivery(
    guarded: tuple[WebhookService, dict[str, list[str]]],
    repo: JobRepository,
    tenant: Tenant,
    hook: Receiver,
    make_deliverer: DelivererFactory,
    webhooks_repo: WebhookRepository,
) -> None:
    service, answers = guarded
    url = f"http://hooks.example:{hook.port}/hooks"
    service.set_url(tenant, url)  # public when configured
    answers["hooks.example"] = ["127.0.0.1"]  # then the name points inside
    video_id = make_ready(repo, tenant)
    deliverer = make_deliverer(allow_private=False, resolve=resolver(answers))
    [result] = deliverer.deliver_due()
    assert result.state is DeliveryState.PENDING  # retried: the name may point out again
    assert result.attempt.error is not None
    assert result.attempt.error.startswith("refused:") and "loopback" in result.attempt.error
    assert hook.received == []
    [event] = webhooks_repo.events_of_video(video_id)
    assert event.last_error == result.attempt.error


def test_a_loopback_name_stored_earlier_is_refused_at_delivery(
    repo: JobRepository,
    tenant: Tenant,
    tenants_repo: TenantRepository,
    hook: Receiver,
    make_deliverer: DelivererFactory,
) -> None:
    """localhost through the real resolver, stored while the deployment allowed it."""
    tenants_repo.set_webhook(
        tenant.id, WebhookEndpoint(f"http://localhost:{hook.port}/hooks", new_secret())
    )
    make_ready(repo, tenant)
    [refused] = make_deliverer(allow_private=False).deliver_due()
    assert refused.attempt.error is not None and "loopback" in refused.attempt.error
    assert hook.received == []


def test_the_embedded_mode_sends_to_loopback(
    repo: JobRepository,
    tenant: Tenant,
    tenants_repo: TenantRepository,
    hook: Receiver,
    make_deliverer: DelivererFactory,
) -> None:
    tenants_repo.set_webhook(
        tenant.id, WebhookEndpoint(f"http://localhost:{hook.port}/hooks", new_secret())
    )
    make_ready(repo, tenant)
    [result] = make_deliverer(allow_private=True).deliver_due()
    assert result.state is DeliveryState.DELIVERED
    assert len(hook.received) == 1


def test_the_connection_goes_to_the_checked_address_with_the_named_host(
    guarded: tuple[WebhookService, dict[str, list[str]]],
    repo: JobRepository,
    tenant: Tenant,
    hook: Receiver,
    make_deliverer: DelivererFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The deliverer connects to the address it checked (a second lookup could answer
    differently), and still names the host in the Host header. Loopback stands in for a
    public address here, the one rule lifted so a local receiver can take the request."""
    service, answers = guarded
    service.set_url(tenant, f"http://hooks.example:{hook.port}/hooks")
    answers["hooks.example"] = ["127.0.0.1"]
    monkeypatch.setattr(urls, "blocked_reason", lambda address: None)
    make_ready(repo, tenant)
    [result] = make_deliverer(allow_private=False, resolve=resolver(answers)).deliver_due()
    assert result.state is DeliveryState.DELIVERED
    [request] = hook.received
    assert request.headers["host"] == f"hooks.example:{hook.port}"
