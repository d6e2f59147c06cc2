"""A storage fault proxy for the fault tier: the FaultProxy of tests/support/s3server.py, with a
fault a test switches at any moment (from any thread) between pass-through, an error status,
a held request (a read timeout), a connection reset and a full outage.

    proxy.set_fault("error", methods={"PUT"}, status=503)    # every PUT answered 503
    proxy.set_fault("error", ops={"copy"}, every=2)         # every 2nd CopyObject
    proxy.set_fault("timeout", ops={"put"}, times=1)        # the next PUT never answered
    proxy.set_fault("reset", when="after_body")              # RST once the body is read
    proxy.set_fault("outage")                                # every connection reset at accept
    proxy.clear()                                            # pass-through again
    proxy.counts                                             # Counter: faults served by kind

Requests are classified into S3 operations (`ops`): put, copy, upload_part, create_multipart,
complete_multipart, abort_multipart, get, head, list, delete, delete_batch.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.s3server import FaultProxy, _ProxyHandler

KINDS = ("error", "timeout", "reset", "outage")
# vodforge's S3Storage reads with a 60 s timeout (src/vodforge/storage/s3.py): a held request
# must outlast it for botocore to give up on it and retry.
VODFORGE_READ_TIMEOUT_S = 60.0
DEFAULT_HOLD_S = VODFORGE_READ_TIMEOUT_S + 5.0
_ERROR_CODES = {500: "InternalError", 503: "SlowDown"}


@dataclass(frozen=True)
class Fault:
    """What the proxy does to the requests it matches (all of them when no filter is set)."""

    kind: str
    methods: frozenset[str] | None = None
    ops: frozenset[str] | None = None
    key_pattern: re.Pattern[str] | None = None
    every: int = 1  # only every k-th matching request (the k-th, 2k-th, ...)
    times: int | None = None  # at most this many faults, then pass-through
    status: int = 503
    code: str | None = None
    hold_s: float = DEFAULT_HOLD_S
    when: str = "before_body"  # a reset's moment: before or after reading the request body

    def matches(self, method: str, op: str, key: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        if self.ops is not None and op not in self.ops:
            return False
        return self.key_pattern is None or self.key_pattern.search(key) is not None


def classify(method: str, path: str, headers: Any) -> tuple[str, str]:
    """(S3 operation, object key) of a path-style request `/bucket/key?query`."""
    parts = urlsplit(path)
    query = parse_qs(parts.query, keep_blank_values=True)
    _, _, key = unquote(parts.path).lstrip("/").partition("/")
    if method == "PUT":
        if headers.get("x-amz-copy-source"):
            return "copy", key
        return ("upload_part" if "uploadId" in query else "put"), key
    if method == "POST":
        if "delete" in query:
            return "delete_batch", key
        if "uploads" in query:
            return "create_multipart", key
        return ("complete_multipart" if "uploadId" in query else "post"), key
    if method == "DELETE":
        return ("abort_multipart" if "uploadId" in query else "delete"), key
    if method == "GET":
        return ("list" if not key or "list-type" in query else "get"), key
    return method.lower(), key


@dataclass
class StorageFaultProxy(FaultProxy):
    """The FaultProxy with a switchable `Fault` (see the module docstring)."""

    _counts: Counter[str] = field(default_factory=Counter)
    _fault: Fault | None = None
    _matched: int = 0
    _served: int = 0
    _stopping: threading.Event = field(default_factory=threading.Event)

    def set_fault(
        self,
        kind: str,
        *,
        methods: Iterable[str] | None = None,
        ops: Iterable[str] | None = None,
        key_pattern: str | None = None,
        every: int = 1,
        times: int | None = None,
        status: int = 503,
        code: str | None = None,
        hold_s: float = DEFAULT_HOLD_S,
        when: str = "before_body",
    ) -> None:
        if kind == "pass":
            self.clear()
            return
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}: one of pass, {', '.join(KINDS)}")
        if when not in ("before_body", "after_body") or every < 1:
            raise ValueError(f"bad fault options: when={when!r}, every={every}")
        fault = Fault(
            kind,
            methods=frozenset(m.upper() for m in methods) if methods is not None else None,
            ops=frozenset(ops) if ops is not None else None,
            key_pattern=re.compile(key_pattern) if key_pattern is not None else None,
            every=every,
            times=times,
            status=status,
            code=code or _ERROR_CODES.get(status, "ServiceUnavailable"),
            hold_s=hold_s,
            when=when,
        )
        with self._lock:
            self._fault, self._matched, self._served = fault, 0, 0

    def clear(self) -> None:
        """Pass-through from now on (a request already held stays held)."""
        with self._lock:
            self._fault = None

    @property
    def counts(self) -> Counter[str]:
        """Faults served, by kind ("error") and by kind and operation ("error:put")."""
        with self._lock:
            return Counter(self._counts)

    def decide(self, method: str, path: str, headers: Any) -> Fault | None:
        """The fault for this request, if any; counted and recorded atomically."""
        op, key = classify(method, path, headers)
        with self._lock:
            fault = self._fault
            if fault is None or not fault.matches(method, op, key):
                return None
            if fault.times is not None and self._served >= fault.times:
                return None
            self._matched += 1
            if self._matched % fault.every:
                return None
            self._served += 1
            self._counts[fault.kind] += 1
            self._counts[f"{fault.kind}:{op}"] += 1
            self.requests.append((method, path, fault.status if fault.kind == "error" else 0))
            return fault

    def in_outage(self) -> bool:
        with self._lock:
            return self._fault is not None and self._fault.kind == "outage"

    def count_outage_reset(self) -> None:
        with self._lock:
            self._counts["outage"] += 1

    def hold(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def start(self) -> StorageFaultProxy:
        handler = type("_BoundFaultHandler", (_FaultHandler,), {"proxy": self})
        self._server = _FaultServer(("127.0.0.1", 0), handler)
        self._server.proxy = self
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # held requests end now
        super().stop()


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST, not an orderly FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _FaultServer(ThreadingHTTPServer):
    proxy: StorageFaultProxy

    def verify_request(self, request: Any, client_address: Any) -> bool:
        if self.proxy.in_outage():
            self.proxy.count_outage_reset()
            reset(request)
            return False
        return True

    def shutdown_request(self, request: Any) -> None:
        try:
            super().shutdown_request(request)
        except OSError:
            pass  # already reset

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # a client that gave up on a held or reset request is expected here


class _FaultHandler(_ProxyHandler):
    proxy: StorageFaultProxy

    def _relay(self) -> None:
        if self.proxy.in_outage():  # a keep-alive connection opened before the outage
            self.proxy.count_outage_reset()
            self._reset()
            return
        fault = self.proxy.decide(self.command, self.path, self.headers)
        if fault is None:
            super()._relay()
            return
        if fault.kind == "reset" and fault.when == "before_body":
            self._reset()
            return
        self._read_body()
        if fault.kind == "error":
            self._send_error(fault)
        elif fault.kind == "timeout":
            self.proxy.hold(fault.hold_s)
            self._reset()
        else:
            self._reset()

    def _send_error(self, fault: Fault) -> None:
        payload = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{fault.code}</Code>'
            f"<Message>injected by StorageFaultProxy</Message></Error>"
        ).encode()
        self.send_response(fault.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _reset(self) -> None:
        self.close_connection = True
        # The buffered reader holds a reference to the socket: the fd (and so the RST) goes
        # only when both are closed.
        self.rfile.close()
        reset(self.connection)


@contextmanager
def storage_fault_proxy(upstream: str) -> Iterator[StorageFaultProxy]:
    proxy = StorageFaultProxy(upstream).start()
    try:
        yield proxy
    finally:
        proxy.stop()
