"""Test helpers: a real S3-protocol server (moto) on localhost and a fault-injecting proxy."""

from __future__ import annotations

import http.client
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.databases import require_service

# Dummy credentials and no config files: the tests must never reach a real AWS account.
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
AWS_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")


@contextmanager
def aws_test_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in AWS_UNSET:
            patch.delenv(name, raising=False)
        for name, value in AWS_TEST_ENV.items():
            patch.setenv(name, value)
        yield


@contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's S3 server on 127.0.0.1 (a free port); yield its endpoint URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:  # moto[server] is a dev dependency
        require_service("moto[server] (the local S3 server)", reachable=False)
        raise  # unreachable: require_service skips or fails
    # werkzeug logs every request at INFO; thousands of captured records slow the tests down.
    access_log = logging.getLogger("werkzeug")
    level = access_log.level
    access_log.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        access_log.setLevel(level)


def seed_objects(bucket: str, keys: list[str], body: bytes = b"s") -> None:
    """Create many objects straight in the in-process moto store (about 100x faster than a
    PUT each); only for arranging bulk state, never for the behaviour under test."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key in keys:
        backend.put_object(bucket, key, body)


def new_bucket_name() -> str:
    return f"vodforge-test-{uuid.uuid4().hex[:16]}"


def s3_client(endpoint_url: str) -> Any:
    """A plain boto3 S3 client for arranging and inspecting test state behind the backend."""
    import boto3.session
    from botocore.config import Config

    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


# --- fault injection --------------------------------------------------------------------------

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "content-length",
    }
)


@dataclass
class FaultProxy:
    """An HTTP proxy in front of an S3 endpoint that answers the first `fail_first` requests
    (every request when fail_first is None) with `fail_status`/`fail_code`, and forwards the
    rest. `requests` records (method, path, status) of everything it answered."""

    upstream: str
    fail_first: int | None = 0
    fail_status: int = 503
    fail_code: str = "ServiceUnavailable"
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def faults_served(self) -> int:
        with self._lock:
            return sum(1 for _, _, status in self.requests if status == self.fail_status)

    def start(self) -> FaultProxy:
        handler = type("_BoundHandler", (_ProxyHandler,), {"proxy": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def next_fault(self, method: str, path: str) -> int | None:
        """Decide and record, atomically, whether this request gets an injected error."""
        with self._lock:
            injected = self.fail_first is None or len(self.requests) < self.fail_first
            if injected:
                self.requests.append((method, path, self.fail_status))
                return self.fail_status
            return None

    def record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, path, status))


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and 100-continue answered for boto3
    proxy: FaultProxy

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self._relay()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _relay(self) -> None:
        body = self._read_body()
        status = self.proxy.next_fault(self.command, self.path)
        if status is not None:
            self._send_fault(status)
            return
        upstream = urlsplit(self.proxy.upstream)
        connection = http.client.HTTPConnection(upstream.hostname or "", upstream.port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            self.proxy.record(self.command, self.path, response.status)
            self.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            # HEAD answers carry the object's length but no body.
            length = response.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        finally:
            connection.close()

    def _send_fault(self, status: int) -> None:
        payload = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{self.proxy.fail_code}</Code>'
            f"<Message>injected by FaultProxy</Message></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


@contextmanager
def fault_proxy(upstream: str, **options: Any) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream, **options).start()
    try:
        yield proxy
    finally:
        proxy.stop()
