"""The limit on failed authentications per client address: after too many wrong API keys or
internal tokens within a window, every request from that address that needs one is 429 (a
correct key too) until the window has passed, so keys cannot be guessed at speed.

Counted in this process's memory with the `limits` package (a moving window per address):
each API process keeps its own count, so K processes behind a balancer allow up to K times
the limit, and a restart forgets. The address is the one uvicorn reports: behind a reverse
proxy, let uvicorn trust the proxy's X-Forwarded-For (FORWARDED_ALLOW_IPS), or every client
shares the proxy's address and one of them can lock out the rest.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from vodforge.errors import RateLimited

log = logging.getLogger(__name__)


class AuthFailureLimit:
    def __init__(self, limit: int, window_s: int) -> None:
        """At most `limit` failures per address within `window_s` seconds; 0 turns it off."""
        self.limit = limit
        self.window_s = window_s
        self._item = RateLimitItemPerSecond(limit, window_s) if limit > 0 else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, client: str) -> None:
        """RateLimited while `client` has used up its failures, with the seconds until the
        oldest of them leaves the window."""
        if self._item is None:
            return
        if self._limiter.test(self._item, client):
            return
        reset_at = self._limiter.get_window_stats(self._item, client).reset_time
        retry_after_s = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(
            f"too many failed authentications from this address ({self.limit} within"
            f" {self.window_s} s); try again in {retry_after_s} s",
            retry_after_s=retry_after_s,
        )

    def failed(self, client: str) -> None:
        """Count one wrong key or token from `client`."""
        if self._item is None:
            return
        self._limiter.hit(self._item, client)
        if not self._limiter.test(self._item, client):
            log.warning(
                "client %r made %d failed authentications within %d s: refused until the"
                " window passes",
                client,
                self.limit,
                self.window_s,
            )
