"""The SSRF guard's rules: which URLs are well formed, which addresses are someone's own
network, and that one private answer among public ones is enough to refuse."""

from __future__ import annotations

import ipaddress

import pytest

from vodforge.errors import ConfigError
from vodforge.settings import Settings
from vodforge.webhooks.urls import (
    UrlRefused,
    blocked_reason,
    check_webhook_url,
    parse_webhook_url,
    resolve_target,
)

BLOCKED = {
    "127.0.0.1": "loopback",
    "127.10.0.1": "loopback",
    "::1": "loopback",
    "::ffff:127.0.0.1": "loopback",
    "169.254.169.254": "link-local",  # cloud metadata
    "fe80::1": "link-local",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fc00::1": "private",
    "fd00:ec2::254": "private",  # AWS's IPv6 metadata address
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    # Python files these under private or reserved, depending on its version: blocked either way.
    "100.64.0.1": "",  # carrier-grade NAT
    "240.0.0.1": "",
    "198.18.0.1": "",  # benchmarking
}


@pytest.mark.parametrize(("address", "kind"), BLOCKED.items(), ids=list(BLOCKED))
def test_internal_addresses_are_blocked(address: str, kind: str) -> None:
    reason = blocked_reason(ipaddress.ip_address(address))
    assert reason is not None and reason.startswith(kind)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://example.com/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "example.com/hook",
        "http:///nohost",
        "http://user:pw@example.com/",
        "http://example.com/#frag",
        "http://example.com:99999/",
        "http://exa mple.com/",
        "http://example.com/\nX-Injected: 1",
        "https://" + "a" * 2000 + ".com/",
    ],
)
def test_malformed_urls_are_refused_in_every_mode(url: str) -> None:
    with pytest.raises(UrlRefused):
        check_webhook_url(url, allow_private=True)


def test_a_url_is_parsed_into_where_to_connect() -> None:
    target = parse_webhook_url("HTTPS://Hooks.Example.com/in?x=1")
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example.com", 443)
    assert target.host_header == "Hooks.Example.com"
    assert target.pinned_url("2606:4700::1") == "https://[2606:4700::1]:443/in?x=1"
    assert parse_webhook_url("http://h:8080/").pinned_url("1.2.3.4") == "http://1.2.3.4:8080/"


def test_one_private_answer_among_public_ones_refuses() -> None:
    target = parse_webhook_url("https://hooks.example/")

    def mixed(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.7"]

    with pytest.raises(UrlRefused, match=r"10\.0\.0\.7, which is private"):
        resolve_target(target, allow_private=False, resolve=mixed)
    allowed = resolve_target(target, allow_private=True, resolve=mixed)
    assert allowed == ["93.184.215.14", "10.0.0.7"]


def test_a_name_that_does_not_resolve_is_refused() -> None:
    def nowhere(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(UrlRefused, match="does not resolve"):
        check_webhook_url("https://nowhere.invalid/", allow_private=False, resolve=nowhere)
    # With private addresses allowed nothing is resolved when the URL is configured.
    check_webhook_url("https://nowhere.invalid/", allow_private=True, resolve=nowhere)


def test_private_addresses_are_allowed_by_default_only_in_the_embedded_mode() -> None:
    base = {"VODFORGE_INTERNAL_TOKEN": "t"}
    embedded = {**base, "VODFORGE_DATABASE_URL": "sqlite:///x.db"}
    assert Settings.from_env(embedded).webhook_allow_private
    postgres = {**base, "VODFORGE_DATABASE_URL": "postgresql://db/vodforge"}
    assert not Settings.from_env(postgres).webhook_allow_private
    allowed = {**postgres, "VODFORGE_WEBHOOK_ALLOW_PRIVATE": "true"}
    assert Settings.from_env(allowed).webhook_allow_private
    guarded = {**embedded, "VODFORGE_WEBHOOK_ALLOW_PRIVATE": "0"}
    assert not Settings.from_env(guarded).webhook_allow_private
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOW_PRIVATE"):
        Settings.from_env({**postgres, "VODFORGE_WEBHOOK_ALLOW_PRIVATE": "maybe"})
    assert Settings.from_env(postgres).webhook_retry_window_s == 86400.0
