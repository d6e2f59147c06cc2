"""Webhook use cases shared by the CLI and the API: a tenant's endpoint and secret, its
delivery log, redelivery, and the counts metrics read. Every call is scoped to one tenant."""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vodforge.errors import Conflict, InvalidRequest, NotFound
from vodforge.tenants.repository import Tenant, TenantRepository, WebhookEndpoint
from vodforge.webhooks.records import WebhookCounts, WebhookEvent
from vodforge.webhooks.repository import WebhookRepository
from vodforge.webhooks.signing import new_secret
from vodforge.webhooks.urls import Resolver, check_webhook_url, system_resolver

MAX_PAGE = 100
# What an event id can be (the triggers make `msg_` + 32 hex digits): anything else is no
# delivery, answered before it reaches a query (PostgreSQL refuses text with a NUL byte).
DELIVERY_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
# A cursor's seq fits the column (a BIGINT): a longer number is no cursor this API made.
MAX_SEQ_DIGITS = 18


@dataclass(frozen=True)
class WebhookPage:
    items: list[dict[str, Any]]
    next_cursor: str | None

    def to_json(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"wh:{seq}".encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        prefix, _, seq = raw.partition(":")
        if prefix != "wh" or not (seq.isascii() and seq.isdigit()) or len(seq) > MAX_SEQ_DIGITS:
            raise ValueError(raw)
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(f"cursor {cursor[:80]!r} is not one this API returned") from None


class WebhookService:
    def __init__(
        self,
        repo: WebhookRepository,
        tenants: TenantRepository,
        *,
        allow_private: bool,
        retry_window_s: float,
        resolve: Resolver = system_resolver,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.tenants = tenants
        self.allow_private = allow_private
        self.retry_window_s = retry_window_s
        self.resolve = resolve
        self.clock = clock

    # -- the endpoint -----------------------------------------------------------------------

    def check_url(self, url: str) -> str:
        """The URL as it will be stored, or UrlRefused (400) naming what is wrong with it."""
        return check_webhook_url(url, allow_private=self.allow_private, resolve=self.resolve).url

    def new_endpoint(self, url: str) -> WebhookEndpoint:
        """A checked URL with a fresh secret, for `tenants create --webhook-url`."""
        return WebhookEndpoint(self.check_url(url), new_secret())

    def endpoint(self, tenant: Tenant) -> dict[str, Any]:
        current = self.tenants.webhook_endpoint(tenant.id)
        return {"url": current.url if current else None, "secret": None}

    def set_url(self, tenant: Tenant, url: str) -> dict[str, Any]:
        """Point the tenant's webhooks at `url`. The secret is kept if there is one (and not
        shown again); the first URL gets a new one, shown in this answer only."""
        checked = self.check_url(url)
        current = self.tenants.webhook_endpoint(tenant.id)
        secret = current.secret if current else new_secret()
        self.tenants.set_webhook(tenant.id, WebhookEndpoint(checked, secret))
        return {"url": checked, "secret": None if current else secret}

    def rotate_secret(self, tenant: Tenant) -> dict[str, Any]:
        """A new signing secret, used from the next attempt on; the old one stops at once."""
        current = self.tenants.webhook_endpoint(tenant.id)
        if current is None:
            raise Conflict("webhooks are off for this tenant: set a URL first")
        secret = new_secret()
        self.tenants.set_webhook(tenant.id, WebhookEndpoint(current.url, secret))
        return {"url": current.url, "secret": secret}

    def disable(self, tenant: Tenant) -> dict[str, Any]:
        """No more events are written; pending ones fail at their next attempt."""
        self.tenants.set_webhook(tenant.id, None)
        return {"url": None, "secret": None}

    # -- the delivery log -------------------------------------------------------------------

    def page(self, tenant: Tenant, *, limit: int = 50, cursor: str | None = None) -> WebhookPage:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}")
        before = decode_cursor(cursor) if cursor else None
        rows = self.repo.list_for_tenant(tenant.id, limit + 1, before)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].seq) if more and rows else None
        return WebhookPage([row.to_json() for row in rows], next_cursor)

    def get(self, tenant: Tenant, event_id: str) -> WebhookEvent:
        _check_id(event_id)
        event = self.repo.find_for_tenant(tenant.id, event_id)
        if event is None:
            raise NotFound(f"webhook delivery {event_id[:80]!r} not found")
        return event

    def show(self, tenant: Tenant, event_id: str) -> dict[str, Any]:
        """One delivery with every attempt made."""
        event = self.get(tenant, event_id)
        attempts = [attempt.to_json() for attempt in self.repo.attempts_of(event.id)]
        return {**event.to_json(), "attempt_log": attempts}

    def redeliver(self, tenant: Tenant, event_id: str) -> dict[str, Any]:
        """Send the event again soon: same webhook-id, same body, a fresh retry window."""
        self.get(tenant, event_id)  # another tenant's delivery is NotFound, webhooks on or off
        if self.tenants.webhook_endpoint(tenant.id) is None:
            raise Conflict("webhooks are off for this tenant: set a URL first")
        event = self.repo.redeliver(tenant.id, event_id, self.clock() + self.retry_window_s)
        return event.to_json()

    def counts(self) -> WebhookCounts:
        """For metrics: events by state and attempts made and failed, from the tables."""
        return self.repo.counts()


def _check_id(event_id: str) -> None:
    if not DELIVERY_ID.fullmatch(event_id):
        raise NotFound(f"webhook delivery {event_id[:80]!r} not found")
