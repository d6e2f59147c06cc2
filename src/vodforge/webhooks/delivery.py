"""Delivering the outbox: claim a due event, send it signed, record the outcome.

At least once: the outcome is written after the response, so a process that dies between the
two leaves the event claimed until its lease ends and then sends it again, with the same
webhook-id and the same body. 2xx is delivered; anything else (a redirect too, which is not
followed) is retried with exponential backoff and jitter until the retry window closes, then
the event is FAILED.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vodforge.domain.retry import RetryPolicy
from vodforge.logs import Event, log_event
from vodforge.tenants.repository import TenantRepository
from vodforge.webhooks.payloads import VideoDescriber, compose_body
from vodforge.webhooks.records import Attempt, ClaimedEvent, DeliveryState
from vodforge.webhooks.repository import WebhookRepository
from vodforge.webhooks.signing import signed_headers
from vodforge.webhooks.urls import (
    Resolver,
    UrlRefused,
    WebhookTarget,
    parse_webhook_url,
    resolve_target,
    system_resolver,
)

if TYPE_CHECKING:
    # Imported where a request is made: with the CLI, rich and pygments it pulls in, httpx
    # took ~0.1-0.3 s of every command's start-up, which most commands never use.
    import httpx

log = logging.getLogger(__name__)
MAX_ERROR = 500


@dataclass(frozen=True)
class DeliveryPolicy:
    timeout_s: float = 10.0
    # Longer than an attempt can take (connect, write and read each time out at timeout_s),
    # so a live attempt never loses its event to another deliverer.
    lease_s: float = 60.0
    retry_window_s: float = 86400.0
    # 10 s, 20 s, 40 s ... then hourly until the window closes: about 30 attempts in 24 h.
    backoff: RetryPolicy = field(default_factory=lambda: RetryPolicy(base_s=10.0, cap_s=3600.0))


@dataclass(frozen=True)
class DeliveryResult:
    event_id: str
    state: DeliveryState
    attempt: Attempt


class WebhookDeliverer:
    def __init__(
        self,
        repo: WebhookRepository,
        tenants: TenantRepository,
        describer: VideoDescriber,
        *,
        allow_private: bool,
        policy: DeliveryPolicy | None = None,
        resolve: Resolver = system_resolver,
        wall_clock: Callable[[], float] = time.time,
        client: httpx.Client | None = None,
    ) -> None:
        self.repo = repo
        self.tenants = tenants
        self.describer = describer
        self.allow_private = allow_private
        self.policy = policy or DeliveryPolicy()
        self.resolve = resolve
        # Scheduling follows the repository's clock (a test moves it by hand); the signed
        # timestamp is always real time, because receivers reject one that is off by minutes.
        self.wall_clock = wall_clock
        self._client = client
        self._client_lock = threading.Lock()

    @property
    def client(self) -> httpx.Client:
        """The HTTP client, built on first use: its TLS context costs ~0.1 s, which every
        command that never delivers (a one-off `vodforge transcode`) would pay at start-up."""
        import httpx

        with self._client_lock:
            if self._client is None:
                # No redirects (a 3xx could point anywhere, past the address check) and no
                # proxy from the environment (the check must see where the connection goes).
                self._client = httpx.Client(
                    timeout=self.policy.timeout_s, follow_redirects=False, trust_env=False
                )
            return self._client

    def deliver_due(self, limit: int = 100) -> list[DeliveryResult]:
        """Attempt due events one claim at a time until none is due (or `limit`)."""
        results = []
        for _ in range(limit):
            claim = self.repo.claim_due(
                lease_s=self.policy.lease_s, retry_window_s=self.policy.retry_window_s
            )
            if claim is None:
                break
            result = self.deliver(claim)
            if result is not None:
                results.append(result)
        return results

    def deliver(self, claim: ClaimedEvent) -> DeliveryResult | None:
        """One attempt of a claimed event; None when the claim was lost before sending."""
        event = claim.event
        endpoint = self.tenants.webhook_endpoint(event.tenant_id)
        if endpoint is None:
            attempt = self._not_sent("", "webhooks are disabled for this tenant")
            return self.record_outcome(claim, attempt, final=True)
        body = event.payload
        if body is None:
            try:
                body = compose_body(event, self.describer, endpoint.tenant_name)
            except Exception as exc:
                log.exception("composing webhook %s failed", event.id)
                return self.record_outcome(claim, self._not_sent(endpoint.url, f"body: {exc}"))
            body = self.repo.store_payload(claim, body)
            if body is None:
                return None
        headers = signed_headers(endpoint.secret, event.id, body, self.wall_clock())
        attempt = self.send(endpoint.url, body, headers)
        return self.record_outcome(claim, attempt)

    def record_outcome(
        self, claim: ClaimedEvent, attempt: Attempt, *, final: bool = False
    ) -> DeliveryResult:
        """After the response: DELIVERED, PENDING again after a backoff, or FAILED once the
        retry window has closed."""
        event = claim.event
        now = self.repo.clock()
        deadline = event.retry_until if event.retry_until is not None else now
        next_at = None
        if attempt.succeeded:
            state = DeliveryState.DELIVERED
        elif final or now >= deadline:
            state = DeliveryState.FAILED
        else:
            state = DeliveryState.PENDING
            next_at = min(now + self.policy.backoff.delay_s(event.attempts), deadline)
        won = self.repo.record_outcome(claim, attempt, state, next_at)
        fields: dict[str, Any] = {
            "webhook_id": event.id,
            "type": event.type,
            "tenant_id": event.tenant_id,
            "video_id": event.video_id,
            "attempt": event.attempts,
            "status_code": attempt.status_code,
            "error": attempt.error,
            "claim_lost": not won,
        }
        if state is DeliveryState.DELIVERED:
            log_event(log, Event.WEBHOOK_DELIVERED, **fields)
        elif state is DeliveryState.PENDING:
            log_event(
                log, Event.WEBHOOK_RETRY, level=logging.WARNING, next_attempt_at=next_at, **fields
            )
        else:
            log_event(log, Event.WEBHOOK_FAILED, level=logging.WARNING, **fields)
        return DeliveryResult(event.id, state, attempt)

    # -- HTTP -------------------------------------------------------------------------------

    def send(self, url: str, body: str, headers: dict[str, str]) -> Attempt:
        import httpx

        at = self.repo.clock()
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            status = self._post(parse_webhook_url(url), body, headers)
            if status >= 300:
                error = f"HTTP {status}" + (" (redirects are not followed)" if status < 400 else "")
        except UrlRefused as exc:
            error = f"refused: {exc}"
        except httpx.TimeoutException:
            error = f"no response within {self.policy.timeout_s:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return Attempt(at, url, status, error and error[:MAX_ERROR], time.monotonic() - started)

    def _post(self, target: WebhookTarget, body: str, headers: dict[str, str]) -> int:
        import httpx

        if self.allow_private:
            return self._request(target.url, body, headers)
        # Connect only to addresses checked just now, and to nothing a later lookup returns.
        addresses = resolve_target(target, allow_private=False, resolve=self.resolve)
        sni = target.host if target.scheme == "https" else None
        failure: httpx.ConnectError | None = None
        for address in addresses:
            try:
                return self._request(
                    target.pinned_url(address), body, {**headers, "host": target.host_header}, sni
                )
            except httpx.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    def _request(self, url: str, body: str, headers: dict[str, str], sni: str | None = None) -> int:
        # The certificate is checked against the URL's host name, not the pinned address.
        extensions = {"sni_hostname": sni} if sni else None
        request = self.client.build_request(
            "POST", url, content=body.encode(), headers=headers, extensions=extensions
        )
        # The body of the answer is never read: only its status counts.
        response = self.client.send(request, stream=True)
        response.close()
        return response.status_code

    def _not_sent(self, url: str, error: str) -> Attempt:
        return Attempt(self.repo.clock(), url, None, error[:MAX_ERROR], 0.0)

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()


class BackgroundDelivery:
    """The scheduler's webhook step. Sending happens on a few daemon threads, so a slow or
    dead receiver (10 s per attempt) never holds up lease expiry and dispatch in the tick;
    the tick only starts threads when events are due and none are draining. Now and then it
    also prunes old delivered and failed events."""

    def __init__(
        self,
        deliverer: WebhookDeliverer,
        *,
        threads: int = 4,
        batch: int = 100,
        retention_s: float = 30 * 86400.0,
        prune_every_s: float = 3600.0,
    ) -> None:
        self.deliverer = deliverer
        self.threads = threads
        self.batch = batch
        self.retention_s = retention_s
        self.prune_every_s = prune_every_s
        self._running: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._pruned_at: float | None = None

    def step(self) -> list[str]:
        self._prune_now_and_then()
        repo = self.deliverer.repo
        with self._lock:
            self._running = [thread for thread in self._running if thread.is_alive()]
            if self._running or not repo.has_due():
                return []
            for n in range(self.threads):
                thread = threading.Thread(target=self._drain, name=f"webhooks-{n}", daemon=True)
                thread.start()
                self._running.append(thread)
        return []

    def _drain(self) -> None:
        try:
            self.deliverer.deliver_due(self.batch)
        except Exception:
            log.exception("webhook delivery pass failed")

    def _prune_now_and_then(self) -> None:
        now = self.deliverer.repo.clock()
        if self._pruned_at is not None and now - self._pruned_at < self.prune_every_s:
            return
        self._pruned_at = now
        try:
            self.deliverer.repo.prune(now - self.retention_s)
        except Exception:
            log.exception("pruning old webhook events failed")

    def wait_idle(self, timeout_s: float) -> bool:
        """Tests: wait for the threads of the current pass to finish."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            running = list(self._running)
        for thread in running:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in running)
