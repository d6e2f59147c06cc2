"""Which webhook URLs vodforge calls: http(s) only and, unless the deployment allows it, none
that resolves into its own network (the SSRF guard), checked when a URL is configured and
again, on the resolved addresses, at every delivery."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from vodforge.errors import InvalidRequest

# host, port -> the addresses a connection could go to.
Resolver = Callable[[str, int], list[str]]
MAX_URL_LENGTH = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(InvalidRequest):
    """vodforge will not send webhooks to this URL."""


@dataclass(frozen=True)
class WebhookTarget:
    """A parsed webhook URL: where to connect, and what to say in Host and SNI."""

    url: str
    scheme: str
    host: str
    port: int
    host_header: str

    def pinned_url(self, address: str) -> str:
        """The URL with its host replaced by one checked address, so the connection goes
        where the guard looked and a second DNS answer (rebinding) cannot redirect it."""
        parts = urlsplit(self.url)
        literal = f"[{address}]" if ":" in address else address
        return urlunsplit(parts._replace(netloc=f"{literal}:{self.port}"))


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_webhook_url(url: str) -> WebhookTarget:
    """Syntax only: an absolute http or https URL with a host, no credentials, no fragment."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"a webhook URL is 1-{MAX_URL_LENGTH} characters")
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise UrlRefused("a webhook URL has no spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"the webhook URL is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("a webhook URL must start with http:// or https://")
    if not parts.hostname:
        raise UrlRefused("the webhook URL has no host")
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs and the delivery log; the signature is the
        # receiver's proof of origin.
        raise UrlRefused("a webhook URL may not carry credentials (user:password@)")
    if parts.fragment:
        raise UrlRefused("a webhook URL has no #fragment")
    host_header = parts.netloc.rpartition("@")[2]
    return WebhookTarget(
        url=urlunsplit(parts._replace(scheme=scheme)),
        scheme=scheme,
        host=parts.hostname,
        port=port or (443 if scheme == "https" else 80),
        host_header=host_header,
    )


def blocked_reason(address: IPAddress) -> str | None:
    """Why an address is inside someone's own network, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if isinstance(address, ipaddress.IPv6Address) and address.sixtofour is not None:
        # 2002::/16 (6to4) carries an IPv4 address that a relay delivers to: judge that one
        # (Python counts 2002:7f00:1:: as global).
        embedded = blocked_reason(address.sixtofour)
        if embedded is not None:
            return f"{embedded} (6to4 of {address.sixtofour})"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local (cloud metadata lives here)"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved, not globally routable"
    return None


def resolve_target(
    target: WebhookTarget, *, allow_private: bool, resolve: Resolver = system_resolver
) -> list[str]:
    """The addresses to connect to; UrlRefused when the host does not resolve or (unless
    private addresses are allowed) when any address it resolves to is not public: one
    private answer among public ones is enough to refuse, since a client may pick it."""
    try:
        addresses = resolve(target.host, target.port)
    except (OSError, UnicodeError) as exc:
        raise UrlRefused(f"the webhook host {target.host!r} does not resolve: {exc}") from None
    if not addresses:
        raise UrlRefused(f"the webhook host {target.host!r} does not resolve")
    if allow_private:
        return addresses
    for address in addresses:
        try:
            reason = blocked_reason(ipaddress.ip_address(address.split("%", 1)[0]))
        except ValueError:
            reason = "not an IP address"
        if reason is not None:
            raise UrlRefused(
                f"the webhook host {target.host!r} resolves to {address}, which is {reason}; "
                "this deployment only sends webhooks to public addresses "
                "(VODFORGE_WEBHOOK_ALLOW_PRIVATE=true lifts this)"
            )
    return addresses


def check_webhook_url(
    url: str, *, allow_private: bool, resolve: Resolver = system_resolver
) -> WebhookTarget:
    """A URL as configured (tenants create, PUT /v1/webhooks/endpoint): well formed and,
    unless private addresses are allowed, resolving to public addresses only right now."""
    target = parse_webhook_url(url)
    if not allow_private:
        resolve_target(target, allow_private=False, resolve=resolve)
    return target
