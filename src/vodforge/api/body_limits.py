"""Bounds on a request body before a route sees it: its size (every route but the two that
stream uploads takes a small JSON document) and its pace (a body that stalls or trickles is cut
off with 408), so a slow or endless client cannot hold a connection and a worker for ever.

uvicorn bounds neither: its only timer is keep-alive, between requests, and a body is read for
as long as bytes keep coming (or for ever, when they stop). The request line and headers are
bounded in `deadlines.py`, before any ASGI code runs.

Refusals are raised from `receive` as Starlette HTTPExceptions: FastAPI's own body reading
turns any other exception into a 400, so these are the ones that reach the error handler
intact (413 PAYLOAD_TOO_LARGE, 408 REQUEST_TIMEOUT, both closing the connection). A route that
catches its own errors while streaming sees them pass through, and its cleanup (`finally`)
runs as for a client that went away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vodforge.api.errors import CLOSE

log = logging.getLogger(__name__)


class BodyTimeout(HTTPException):
    """The body paused longer than the idle timeout, or fell behind the minimum rate."""

    def __init__(self, message: str) -> None:
        super().__init__(408, message, headers=CLOSE)


@dataclass(frozen=True)
class BodyLimits:
    max_json_bytes: int = 64 * 1024
    idle_timeout_s: float = 30.0
    timeout_s: float = 60.0
    # Bytes per second that earn one more second past timeout_s; 0: timeout_s is a total.
    min_rate: float = 1024.0


class BodyGuard:
    """ASGI middleware applying BodyLimits to every HTTP request. `streamed` are the endpoints
    that read a body of any size themselves (they enforce the upload limit as bytes arrive);
    the size limit skips them, the pace limits do not."""

    def __init__(
        self,
        app: ASGIApp,
        limits: BodyLimits,
        streamed: Collection[Callable[..., Any]] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.limits = limits
        self.streamed = frozenset(streamed)
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = GuardedBody(scope, receive, send, self)
        await self.app(scope, body.receive, body.send)


class GuardedBody:
    """One request's body as the app reads it, timed and counted."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, guard: BodyGuard) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.guard = guard
        self.started = guard.clock()
        self.received = 0
        headers = Headers(scope=scope)
        self.declared = _declared_length(headers.get("content-length"))
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        # Without a body (no Content-Length, or 0, and not chunked) there is nothing to time:
        # later receives only wait for a disconnect (streamed responses listen for one).
        self.ended = not chunked and not self.declared

    async def receive(self) -> Message:
        if self.ended:
            return await self._receive()
        self._check_size(self.declared or 0)
        message = await self._next_message()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.ended = not message.get("more_body", False)
            self._check_size(self.received)
        else:  # http.disconnect
            self.ended = True
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start" and not self.ended:
            # Answered before the body was read to its end (a refusal, or a route that takes
            # no body): close, or uvicorn would keep reading what is left, untimed.
            MutableHeaders(scope=message)["Connection"] = "close"
        await self._send(message)

    async def _next_message(self) -> Message:
        limits = self.guard.limits
        now = self.guard.clock()
        deadline = self.started + limits.timeout_s
        if limits.min_rate > 0:
            deadline += self.received / limits.min_rate
        wait = min(limits.idle_timeout_s, deadline - now)
        try:
            if wait <= 0:
                raise TimeoutError
            return await asyncio.wait_for(self._receive(), wait)
        except TimeoutError:
            self.ended = True  # nothing more will be read: the answer closes the connection
            elapsed = self.guard.clock() - self.started
            log.warning(
                "request body too slow: %s %s, %d bytes in %.1f s; closing",
                self.scope["method"],
                self.scope["path"][:200],
                self.received,
                elapsed,
            )
            raise BodyTimeout(
                f"the request body arrived too slowly ({self.received} bytes in"
                f" {elapsed:.0f} s); the connection is closed"
            ) from None

    def _check_size(self, size: int) -> None:
        limit = self.guard.limits.max_json_bytes
        if size <= limit or self.scope.get("endpoint") in self.guard.streamed:
            return
        self.ended = True
        raise HTTPException(
            413, f"the request body is over {limit} bytes, the limit here", headers=CLOSE
        )


def _declared_length(value: str | None) -> int | None:
    # uvicorn (h11) has refused a Content-Length that is not a number before the app runs.
    return int(value) if value is not None and value.strip().isdigit() else None
