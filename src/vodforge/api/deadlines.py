"""uvicorn's HTTP/1.1 protocol with two deadlines it lacks: on request headers (slowloris),
and on a response the client has stopped reading.

uvicorn (0.54) has no request-header timeout: its one timer, keep-alive, runs only between
requests and is cancelled by any byte that arrives, so a client that opens a connection and
sends nothing, or trickles a request line a byte at a time, holds the connection for ever
(uvicorn issue #157 lists `--timeout-request-start` as never done). ASGI middleware cannot
help: the app is called only once the headers are complete. So the deadline lives in the
protocol: from a connection's opening, and from the first byte of each later request, the
request line and headers must all arrive within `timeout_s`, or the connection is closed
(with a 408 in the API's error shape when part of a request came).

Written against h11's protocol class, and the server is pinned to it (`http=`): uvicorn's
"auto" would pick httptools if some other package installed it, and the deadline would then
silently not apply. The body's pace is `body_limits.py`'s, once the app runs.

The response side: once the socket's send buffer and the transport's own buffer are full,
uvicorn waits for the client to read (flow control) with no limit, so a client that asks for a
large file and never reads holds its connection, an open file and a request task for ever, and
enough of them exhaust the process's file descriptors. So while writing is paused, a timer
runs; each time the client reads enough for writing to resume, it stops. A response that stays
paused for `response_idle_timeout_s` is dropped: the connection is aborted (closing would wait
to flush a buffer the client does not read), which ends the request's task. A client that
reads slowly but keeps reading is never cut off, however long the file takes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from vodforge.api.errors import error_body
from vodforge.errors import ErrorCode

log = logging.getLogger(__name__)


def timeout_response(timeout_s: float) -> bytes:
    # Written to the transport before any ASGI code runs, in the API's one error shape.
    message = f"the request headers did not arrive within {timeout_s:g} s"
    body = json.dumps(error_body(ErrorCode.REQUEST_TIMEOUT, message)).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json\r\n"
        "cache-control: no-store\r\n"
        "connection: close\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class DeadlineProtocol(H11Protocol):
    """One connection; the timeouts are set on the subclass `with_deadlines` makes."""

    timeout_s: float = 10.0  # request line and headers
    response_idle_timeout_s: float = 60.0

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timer: asyncio.TimerHandle | None = None
        self.request_begun = False  # some bytes of the awaited request have arrived
        self.stall_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        between_requests = self.cycle is None or self.cycle.response_complete
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle or self.transport.get_protocol() is not self:
            # The headers are complete (a new request cycle began) or the connection was
            # handed to another protocol (an upgrade): the deadline is met.
            self._disarm()
        elif between_requests:
            self.request_begun = True
            if self.header_timer is None:
                self._arm()

    def on_response_complete(self) -> None:
        # Between requests keep-alive's timer runs; the next request's first byte stops it
        # and starts this deadline (data_received).
        self.request_begun = False
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._writable()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.stall_timer is None:
            self.stall_timer = self.loop.call_later(self.response_idle_timeout_s, self._stalled)

    def resume_writing(self) -> None:
        self._writable()
        super().resume_writing()

    def _writable(self) -> None:
        if self.stall_timer is not None:
            self.stall_timer.cancel()
            self.stall_timer = None

    def _stalled(self) -> None:
        self.stall_timer = None
        if self.transport.is_closing():
            return
        log.warning(
            "client %s read nothing of its response for %g s: dropping the connection",
            self.client[0] if self.client else "?",
            self.response_idle_timeout_s,
        )
        self.transport.abort()

    def _arm(self) -> None:
        self._disarm()
        self.header_timer = self.loop.call_later(self.timeout_s, self._expire)

    def _disarm(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _expire(self) -> None:
        self.header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being served: its headers did arrive
        if self.request_begun:
            log.warning(
                "request headers too slow from %s: closing after %g s",
                self.client[0] if self.client else "?",
                self.timeout_s,
            )
            self.transport.write(timeout_response(self.timeout_s))
        self.transport.close()


def with_deadlines(
    header_timeout_s: float, response_idle_timeout_s: float
) -> type[DeadlineProtocol]:
    """The protocol class to pass uvicorn as `http=`, with these deadlines."""
    limits = {"timeout_s": header_timeout_s, "response_idle_timeout_s": response_idle_timeout_s}
    return type("DeadlineProtocol", (DeadlineProtocol,), limits)
