"""One HTTP attempt, against httpx's mock transport: the connection goes to an address the
guard checked, naming the URL's host in Host and in TLS (SNI and certificate check)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx

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
