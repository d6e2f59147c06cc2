"""One HTTP attempt, against httpx's mock transport: the connection goes to an address the
guard checked, naming the URL's host in Host and in TLS (SNI and certificate check)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from vodforge.webhooks.delivery import WebhookDeliverer


def deliverer_with(handler: Any, addresses: list[str]) -> WebhookDeliverer:
    return WebhookDeliverer(
        SimpleNamespace(clock=lambda: 1.0),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        allow_private=False,
        resolve=lambda host, port: addresses,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def test_https_goes_to_the_checked_address_with_the_host_name_for_tls() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    deliverer = deliverer_with(handler, ["93.184.215.14"])
    attempt = deliverer.send("https://hooks.example/in?x=1", "{}", {"webhook-id": "msg_1"})
    assert (attempt.status_code, attempt.error) == (204, None) and attempt.succeeded
    [request] = seen
    assert str(request.url) == "https://93.184.215.14/in?x=1"  # httpx drops the default port
    assert request.headers["host"] == "hooks.example"
    assert request.extensions["sni_hostname"] == "hooks.example"
    assert request.headers["webhook-id"] == "msg_1" and request.content == b"{}"


def test_the_next_checked_address_is_tried_when_one_refuses() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "2606:4700::1":
            raise httpx.ConnectError("unreachable", request=request)
        return httpx.Response(200)

    deliverer = deliverer_with(handler, ["2606:4700::1", "93.184.215.14"])
    attempt = deliverer.send("http://hooks.example:8080/", "{}", {})
    assert attempt.status_code == 200


def test_no_address_answering_is_a_failed_attempt() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    attempt = deliverer_with(handler, ["93.184.215.14"]).send("http://hooks.example/", "{}", {})
    assert attempt.status_code is None and attempt.error == "ConnectError: connection refused"


def test_a_timeout_is_a_failed_attempt() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    attempt = deliverer_with(handler, ["93.184.215.14"]).send("http://hooks.example/", "{}", {})
    assert attempt.status_code is None and attempt.error == "no response within 10 s"


def test_the_client_is_built_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its TLS context costs ~0.1 s: commands that never deliver must not pay for it."""
    built: list[dict[str, Any]] = []
    real = httpx.Client

    def client(**options: Any) -> httpx.Client:
        built.append(options)
        return real(transport=httpx.MockTransport(lambda request: httpx.Response(204)))

    monkeypatch.setattr(httpx, "Client", client)
    deliverer = WebhookDeliverer(
        SimpleNamespace(clock=lambda: 1.0),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        allow_private=False,
        resolve=lambda host, port: ["93.184.215.14"],
    )
    assert built == []
    assert deliverer.send("https://hooks.example/in", "{}", {}).status_code == 204
    assert deliverer.send("https://hooks.example/in", "{}", {}).status_code == 204
    assert built == [{"timeout": 10.0, "follow_redirects": False, "trust_env": False}]
    deliverer.close()


def test_closing_an_unused_deliverer_builds_no_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpx, "Client", lambda **options: pytest.fail("a client was built"))
    WebhookDeliverer(None, None, None, allow_private=False).close()  # type: ignore[arg-type]
