"""The webhook routes over HTTP: the endpoint and its secret, the delivery log (paged, scoped
to the calling tenant), and redelivery with the same webhook-id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from tests.support.api import TenantKey, api_components, api_settings, make_tenant
from tests.support.api import test_client as open_client
from tests.support.errors import assert_error
from tests.support.videos import failed_video, ready_video
from tests.support.webhooks import Receiver
from vodforge.bootstrap import Components

ENDPOINT = "/v1/webhooks/endpoint"
DELIVERIES = "/v1/webhooks/deliveries"


@pytest.fixture
def components(database_url: str, tmp_path: Path) -> Iterator[Components]:
    """Private addresses allowed on both databases: the receiver is on loopback."""
    settings = api_settings(database_url, tmp_path / "data", VODFORGE_WEBHOOK_ALLOW_PRIVATE="true")
    with api_components(settings) as components:
        yield components


@pytest.fixture
def client(components: Components) -> Iterator[TestClient]:
    with open_client(components) as client:
        yield client


def deliver(components: Components) -> int:
    return len(components.webhook_delivery.deliverer.deliver_due())


def test_the_endpoint_and_its_secret(client: TestClient, alice: TenantKey, hook: Receiver) -> None:
    assert client.get(ENDPOINT, headers=alice.headers).json() == {"url": None, "secret": None}
    created = client.put(ENDPOINT, json={"url": hook.url}, headers=alice.headers)
    assert created.status_code == 200, created.text
    secret = created.json()["secret"]
    assert created.json()["url"] == hook.url and secret.startswith("whsec_")
    assert client.get(ENDPOINT, headers=alice.headers).json() == {"url": hook.url, "secret": None}
    moved = client.put(ENDPOINT, json={"url": hook.url + "/v2"}, headers=alice.headers).json()
    assert moved == {"url": hook.url + "/v2", "secret": None}  # the secret is kept, not shown
    rotated = client.post(ENDPOINT + "/rotate-secret", headers=alice.headers).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != secret
    off = client.delete(ENDPOINT, headers=alice.headers)
    assert off.json() == {"url": None, "secret": None}
    assert_error(client.post(ENDPOINT + "/rotate-secret", headers=alice.headers), 409, "CONFLICT")


def test_bad_urls_are_400(client: TestClient, alice: TenantKey) -> None:
    for url in ("ftp://example.com/", "not a url", "http://user:pw@example.com/"):
        response = client.put(ENDPOINT, json={"url": url}, headers=alice.headers)
        assert_error(response, 400, "INVALID_REQUEST")


def test_internal_urls_are_400_outside_the_embedded_mode(database_url: str, tmp_path: Path) -> None:
    settings = api_settings(database_url, tmp_path / "data", VODFORGE_WEBHOOK_ALLOW_PRIVATE="false")
    with api_components(settings) as components, open_client(components) as client:
        alice = make_tenant(components, "alice")
        response = client.put(
            ENDPOINT, json={"url": "http://169.254.169.254/latest"}, headers=alice.headers
        )
        error = assert_error(response, 400, "INVALID_REQUEST")
        assert "link-local" in error["message"]


def test_the_delivery_log_and_redelivery(
    client: TestClient, components: Components, alice: TenantKey, hook: Receiver
) -> None:
    secret = client.put(ENDPOINT, json={"url": hook.url}, headers=alice.headers).json()["secret"]
    video_id = ready_video(components, "alice")
    assert deliver(components) == 1
    [item] = client.get(DELIVERIES, headers=alice.headers).json()["items"]
    assert (item["type"], item["video_id"], item["state"]) == ("video.ready", video_id, "DELIVERED")
    assert (item["attempts"], item["last_status"], item["next_attempt_at"]) == (1, 200, None)
    assert item["id"] == hook.received[0].webhook_id

    again = client.post(f"{DELIVERIES}/{item['id']}/redeliver", headers=alice.headers)
    assert again.status_code == 202, again.text
    assert again.json()["state"] == "PENDING"
    assert deliver(components) == 1
    first, second = hook.received
    assert second.webhook_id == first.webhook_id and second.body == first.body
    Webhook(secret).verify(second.body, second.headers)
    detail = client.get(f"{DELIVERIES}/{item['id']}", headers=alice.headers).json()
    assert (detail["state"], detail["attempts"]) == ("DELIVERED", 2)
    assert [a["status_code"] for a in detail["attempt_log"]] == [200, 200]
    assert all(a["url"] == hook.url for a in detail["attempt_log"])


def test_deliveries_are_scoped_to_the_tenant(
    client: TestClient,
    components: Components,
    alice: TenantKey,
    bob: TenantKey,
    hook: Receiver,
) -> None:
    client.put(ENDPOINT, json={"url": hook.url}, headers=alice.headers)
    client.put(ENDPOINT, json={"url": hook.url}, headers=bob.headers)
    ready_video(components, "alice")
    [item] = client.get(DELIVERIES, headers=alice.headers).json()["items"]
    assert client.get(DELIVERIES, headers=bob.headers).json() == {"items": [], "next_cursor": None}
    assert_error(client.get(f"{DELIVERIES}/{item['id']}", headers=bob.headers), 404, "NOT_FOUND")
    redeliver = client.post(f"{DELIVERIES}/{item['id']}/redeliver", headers=bob.headers)
    assert_error(redeliver, 404, "NOT_FOUND")
    assert_error(client.get(f"{DELIVERIES}/msg_nope", headers=alice.headers), 404, "NOT_FOUND")


def test_the_delivery_log_is_paged_newest_first(
    client: TestClient, components: Components, alice: TenantKey, hook: Receiver
) -> None:
    client.put(ENDPOINT, json={"url": hook.url}, headers=alice.headers)
    made = [failed_video(components, "alice", f"v{n}") for n in range(3)]
    page = client.get(DELIVERIES, params={"limit": 2}, headers=alice.headers).json()
    assert [i["video_id"] for i in page["items"]] == made[:0:-1]
    assert page["next_cursor"]
    rest = client.get(
        DELIVERIES, params={"limit": 2, "cursor": page["next_cursor"]}, headers=alice.headers
    ).json()
    assert [i["video_id"] for i in rest["items"]] == made[:1] and rest["next_cursor"] is None
    bad = client.get(DELIVERIES, params={"cursor": "garbage"}, headers=alice.headers)
    assert_error(bad, 400, "INVALID_REQUEST")


def test_redelivery_needs_webhooks_on(
    client: TestClient, components: Components, alice: TenantKey, hook: Receiver
) -> None:
    client.put(ENDPOINT, json={"url": hook.url}, headers=alice.headers)
    ready_video(components, "alice")
    [item] = client.get(DELIVERIES, headers=alice.headers).json()["items"]
    client.delete(ENDPOINT, headers=alice.headers)
    response = client.post(f"{DELIVERIES}/{item['id']}/redeliver", headers=alice.headers)
    assert_error(response, 409, "CONFLICT")


def test_the_scheduler_housekeeping_of_a_deployment_delivers(
    client: TestClient, components: Components, alice: TenantKey, hook: Receiver
) -> None:
    """The composition root wires delivery into the housekeeping the scheduler runs."""
    secret = client.put(ENDPOINT, json={"url": hook.url}, headers=alice.headers).json()["secret"]
    video_id = ready_video(components, "alice")
    assert components.housekeeping() == []  # sending happens on the step's own threads
    assert components.webhook_delivery.wait_idle(30)
    [request] = hook.received
    assert Webhook(secret).verify(request.body, request.headers)["data"]["id"] == video_id
