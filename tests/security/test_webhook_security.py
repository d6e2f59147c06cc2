"""Webhooks under attack.

Replay: a delivery captured off the wire verifies (with the `standardwebhooks` library, as a
receiver would) inside the library's timestamp window and fails once replayed outside it,
because the signature binds `webhook-timestamp` (a replayer cannot refresh it); a redelivery
carries the same webhook-id and body under a fresh timestamp and signature.

SSRF: what tests/integration/webhooks/test_ssrf_guard.py and tests/unit/webhooks/
test_webhook_urls.py do not already try: other spellings of internal addresses (decimal, hex,
octal and short IPv4, IPv4-mapped/compatible, NAT64 and 6to4 IPv6, `0`, `[::]`), names that
resolve there, refused through the API and the CLI when configured and again at delivery
(against a real receiver those addresses reach), and a public URL redirecting inside.

Names resolve through a stand-in DNS (tests/support/dns.py): no query leaves the machine.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks.webhooks
from fastapi.testclient import TestClient
from standardwebhooks import Webhook, WebhookVerificationError

from tests.support.api import TenantKey
from tests.support.cli import cli_env, run_cli
from tests.support.dns import StubDns
from tests.support.errors import assert_error
from tests.support.videos import failed_video, ready_video, tenant_id
from tests.support.webhooks import Receiver, receiver
from vodforge.bootstrap import Components
from vodforge.tenants.repository import WebhookEndpoint
from vodforge.webhooks import urls
from vodforge.webhooks.delivery import DeliveryPolicy, WebhookDeliverer
from vodforge.webhooks.records import DeliveryState
from vodforge.webhooks.signing import new_secret

ENDPOINT = "/v1/webhooks/endpoint"
DELIVERIES = "/v1/webhooks/deliveries"
# standardwebhooks' window (a constant inside Webhook.verify): 5 minutes either way.
TOLERANCE = timedelta(minutes=5)
PUBLIC = "93.184.215.14"
PRIVATE_ALLOWED = pytest.mark.parametrize(
    "api_env", [{"VODFORGE_WEBHOOK_ALLOW_PRIVATE": "true"}], ids=["receiver-on-loopback"]
)


@pytest.fixture
def api_env() -> dict[str, str]:
    """The guard on, on both databases (the embedded mode would lift it on SQLite)."""
    return {"VODFORGE_WEBHOOK_ALLOW_PRIVATE": "false"}


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


class ReceiverClock:
    """Moves the clock standardwebhooks reads when it checks a timestamp, as if the receiver
    verified the captured request that much later."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = timedelta(0)
        outer = self

        class Shifted(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return datetime.now(tz) + outer.offset

        monkeypatch.setattr(standardwebhooks.webhooks, "datetime", Shifted)

    def verify(self, secret: str, body: bytes, headers: dict[str, str], later: timedelta) -> Any:
        self.offset = later
        try:
            return Webhook(secret).verify(body, headers)
        finally:
            self.offset = timedelta(0)


# -- replay -------------------------------------------------------------------------------------


@PRIVATE_ALLOWED
def test_a_captured_delivery_verifies_only_within_the_timestamp_window(
    client: TestClient,
    components: Components,
    alice: TenantKey,
    hook: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = client.put(ENDPOINT, json={"url": hook.url}, headers=alice.headers).json()["secret"]
    ready_video(components, "alice")
    assert len(components.webhook_delivery.deliverer.deliver_due()) == 1
    [captured] = hook.received
    clock = ReceiverClock(monkeypatch)

    # Fresh, and until just inside the window: the receiver accepts it.
    for later in (timedelta(0), TOLERANCE - timedelta(seconds=10)):
        event = clock.verify(secret, captured.body, captured.headers, later)
        assert event["id"] == captured.webhook_id
    # Replayed after the window: refused as too old.
    with pytest.raises(WebhookVerificationError, match="too old"):
        clock.verify(secret, captured.body, captured.headers, TOLERANCE + timedelta(seconds=10))

    # The replayer cannot bring the timestamp forward to pass the window: it is signed, as
    # are the id and the body. Refreshed to the moment of the replay, it no longer matches.
    replay_at = TOLERANCE + timedelta(seconds=10)
    sent = int(captured.headers["webhook-timestamp"])
    refreshed = str(sent + int(replay_at.total_seconds()))
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        clock.verify(
            secret, captured.body, {**captured.headers, "webhook-timestamp": refreshed}, replay_at
        )
    forged = [
        {**captured.headers, "webhook-timestamp": str(sent + 1)},
        {**captured.headers, "webhook-timestamp": str(sent - 1)},
        {**captured.headers, "webhook-id": "msg_" + "0" * 32},
    ]
    for headers in forged:
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            Webhook(secret).verify(captured.body, headers)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(secret).verify(captured.body.replace(b"READY", b"FAILED"), captured.headers)
    # Nor re-sign it: another tenant's secret (or a guess) makes no valid signature.
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(captured.body, captured.headers)


@PRIVATE_ALLOWED
def test_a_redelivery_has_the_same_id_and_body_and_a_fresh_signed_timestamp(
    client: TestClient,
    components: Components,
    alice: TenantKey,
    hook: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redelivered six minutes later: the receiver, at that time, refuses a replay of the
    first request and accepts the redelivery, which it can tell is the same event by its id."""
    secret = client.put(ENDPOINT, json={"url": hook.url}, headers=alice.headers).json()["secret"]
    ready_video(components, "alice")
    deliverer = components.webhook_delivery.deliverer
    assert len(deliverer.deliver_due()) == 1
    [item] = client.get(DELIVERIES, headers=alice.headers).json()["items"]
    later = timedelta(minutes=6)
    monkeypatch.setattr(deliverer, "wall_clock", lambda: time.time() + later.total_seconds())
    again = client.post(f"{DELIVERIES}/{item['id']}/redeliver", headers=alice.headers)
    assert again.status_code == 202, again.text
    assert len(deliverer.deliver_due()) == 1
    first, second = hook.received

    assert second.webhook_id == first.webhook_id == item["id"]
    assert second.body == first.body
    stamp = int(first.headers["webhook-timestamp"])
    assert int(second.headers["webhook-timestamp"]) >= stamp + later.total_seconds() - 1
    assert second.headers["webhook-signature"] != first.headers["webhook-signature"]

    clock = ReceiverClock(monkeypatch)
    with pytest.raises(WebhookVerificationError, match="too old"):
        clock.verify(secret, first.body, first.headers, later)
    event = clock.verify(secret, second.body, second.headers, later)
    assert event["id"] == first.webhook_id and event == json.loads(first.body)


# -- SSRF: when a URL is configured ---------------------------------------------------------

# Internal addresses in the spellings the existing tests do not use; every one resolves (by
# getaddrinfo's own rules, without a name server) to loopback, link-local, private, reserved
# or unspecified space.
LITERAL_URLS = [
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0x7f000001/",  # hex
    "http://0177.0.0.1/",  # octal
    "http://0177.0000.0000.0001/",
    "http://017700000001/",  # octal, one number
    "http://0x7f.1/",
    "http://127.1/",  # short form
    "http://0/",  # 0.0.0.0
    "http://0.0.0.0:8080/",
    "http://2852039166/latest/meta-data/",  # 169.254.169.254 in decimal
    "http://0xa9fea9fe/latest/meta-data/",
    "http://0251.0376.0251.0376/latest/meta-data/",
    "http://169.254.169.254/latest/meta-data/iam/",
    "http://[fd00:ec2::254]/latest/meta-data/",  # AWS's IPv6 metadata address
    "http://[::]/",
    "http://[::]:8080/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::127.0.0.1]/",  # IPv4-compatible (deprecated)
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
    "http://[2002:a9fe:a9fe::1]/",  # 6to4 of the metadata address
    "http://[2002:7f00:1::1]/",  # 6to4 of loopback
    "http://[fe80::a9fe:a9fe]/",
    "http://100.64.0.1/",
    "https://127.0.0.1:443/",
    "HTTP://127.0.0.1/",
]
# Names that resolve inside (what a DNS record an attacker controls can say).
NAMES = {
    "metadata.internal": ["169.254.169.254"],
    "metadata.google.internal": ["169.254.169.254"],
    "v6.metadata.example": ["fd00:ec2::254"],
    "mapped.example": ["::ffff:10.0.0.1"],
    "nat64.example": ["64:ff9b::a00:5"],
    "sixtofour.example": ["2002:a00:1::1"],
    "scoped.example": ["fe80::1%eth0"],
    "zero.example": ["0.0.0.0"],
    "unspecified6.example": ["::"],
    "one-of-many.example": [PUBLIC, "2606:4700::1", "127.0.0.1"],
    "localhost.": ["127.0.0.1"],
    "LOCALHOST": ["127.0.0.1"],
    "hooks.example": [PUBLIC],
}
NAME_URLS = [f"https://{name}/in" for name in NAMES if name != "hooks.example"]


def test_internal_urls_are_refused_by_the_api(
    client: TestClient, alice: TenantKey, dns: StubDns
) -> None:
    dns.answers.update(NAMES)
    for url in LITERAL_URLS + NAME_URLS:
        response = client.put(ENDPOINT, json={"url": url}, headers=alice.headers)
        error = assert_error(response, 400, "INVALID_REQUEST")
        assert "only sends webhooks to public addresses" in error["message"], (url, error)
    assert client.get(ENDPOINT, headers=alice.headers).json() == {"url": None, "secret": None}
    # The same API takes a public one: the refusals were the guard's.
    ok = client.put(ENDPOINT, json={"url": "https://hooks.example/in"}, headers=alice.headers)
    assert ok.status_code == 200 and ok.json()["url"] == "https://hooks.example/in"


CLI_URLS = [
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://[::]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[2002:a9fe:a9fe::1]/",
]


@pytest.mark.parametrize("url", CLI_URLS)
def test_internal_urls_are_refused_by_tenants_create(tmp_path: Path, url: str) -> None:
    """The real CLI with the real resolver: IP literals need no name server. Nothing is
    created."""
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    env = cli_env(database, tmp_path / "data", VODFORGE_WEBHOOK_ALLOW_PRIVATE="false")
    refused = run_cli(["tenants", "create", "acme", "--webhook-url", url], env)
    assert refused.returncode == 1, (refused.stdout, refused.stderr)
    assert "INVALID_REQUEST" in refused.stdout + refused.stderr
    assert "public addresses" in refused.stdout + refused.stderr
    again = run_cli(["tenants", "create", "acme"], env)
    assert again.returncode == 0, again.stderr  # the name was never taken


# -- SSRF: at delivery --------------------------------------------------------------------------


def guarded_deliverer(components: Components, dns: StubDns) -> WebhookDeliverer:
    return WebhookDeliverer(
        components.webhooks.repo,
        components.tenants_repo,
        components.videos,
        allow_private=False,
        resolve=dns,
        policy=DeliveryPolicy(timeout_s=2.0),
    )


def test_internal_urls_stored_earlier_are_refused_at_delivery(
    components: Components, alice: TenantKey, hook: Receiver, dns: StubDns
) -> None:
    """URLs stored while allowed (or re-pointed since), each aimed at a receiver that those
    spellings really reach: every attempt is refused before connecting, nothing arrives."""
    port = hook.port
    reaching = [
        f"http://2130706433:{port}/hooks",
        f"http://0x7f000001:{port}/hooks",
        f"http://0177.0.0.1:{port}/hooks",
        f"http://127.1:{port}/hooks",
        f"http://0:{port}/hooks",
        f"http://0.0.0.0:{port}/hooks",
        f"http://[::ffff:127.0.0.1]:{port}/hooks",
        f"http://[::]:{port}/hooks",
        f"http://localhost.:{port}/hooks",
        f"http://rebound.example:{port}/hooks",
    ]
    dns.answers.update({"localhost.": ["127.0.0.1"], "rebound.example": [PUBLIC, "127.0.0.1"]})
    deliverer = guarded_deliverer(components, dns)
    alice_id = tenant_id(components, "alice")
    try:
        for url in reaching:
            components.tenants_repo.set_webhook(alice_id, WebhookEndpoint(url, new_secret()))
            failed_video(components, "alice", url)
            [result] = deliverer.deliver_due()
            assert result.attempt.error is not None, url
            assert result.attempt.error.startswith("refused:"), (url, result.attempt.error)
            assert "public addresses" in result.attempt.error, url
            assert result.state is DeliveryState.PENDING  # retried: the name may point out again
    finally:
        deliverer.close()
    assert hook.received == []


class Redirector:
    """An HTTP server on 127.0.0.2 that answers every POST with a redirect to `location`."""

    def __init__(self, location: str) -> None:
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.hits += 1
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def __enter__(self) -> Redirector:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("target_kind", ["loopback", "metadata"])
def test_a_redirect_from_a_public_url_inside_is_not_followed(
    components: Components,
    alice: TenantKey,
    hook: Receiver,
    dns: StubDns,
    monkeypatch: pytest.MonkeyPatch,
    target_kind: str,
) -> None:
    """public.example passes the guard (it resolves to 127.0.0.2, which this test alone
    counts as public) and answers 302 to an internal receiver: the attempt is a failed 302,
    the receiver behind the redirect gets nothing."""
    target = {
        "loopback": f"http://127.0.0.1:{hook.port}/hooks",
        "metadata": "http://169.254.169.254/latest/meta-data/",
    }[target_kind]
    real_reason = urls.blocked_reason
    monkeypatch.setattr(
        urls,
        "blocked_reason",
        lambda address: None if str(address) == "127.0.0.2" else real_reason(address),
    )
    dns.answers["public.example"] = ["127.0.0.2"]
    with Redirector(target) as redirector:
        url = f"http://public.example:{redirector.port}/in"
        checked = components.webhooks.check_url(url)  # accepted when configured
        components.tenants_repo.set_webhook(
            tenant_id(components, "alice"), WebhookEndpoint(checked, new_secret())
        )
        failed_video(components, "alice")
        deliverer = guarded_deliverer(components, dns)
        try:
            [result] = deliverer.deliver_due()
        finally:
            deliverer.close()
    assert redirector.hits == 1
    assert result.attempt.status_code == 302
    assert result.attempt.error == "HTTP 302 (redirects are not followed)"
    assert result.state is DeliveryState.PENDING
    assert hook.received == []
