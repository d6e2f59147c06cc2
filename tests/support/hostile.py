"""Helpers for the security tier's hostile requests: the API served exactly as `vodforge api`
serves it (the same uvicorn configuration, `cli/serve.py`) on a loopback port with small
limits, raw sockets that control every byte and its timing, and snapshots of the files on disk
to show what a request left behind."""

from __future__ import annotations

import base64
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.api import (
    TenantKey,
    api_components,
    api_settings,
    free_port,
    make_tenant,
)
from tests.support.databases import SqliteDatabases
from vodforge.bootstrap import Components
from vodforge.cli.serve import api_server

MIB = 1024 * 1024
# Small limits, so that every refusal and timeout is reached in a fraction of a second.
MAX_FILE_BYTES = MIB
HEADER_TIMEOUT_S = 0.5
BODY_IDLE_TIMEOUT_S = 0.5
BODY_TIMEOUT_S = 1.0
BODY_MIN_RATE = 1000  # bytes per second past BODY_TIMEOUT_S
MAX_JSON_BYTES = 64 * 1024
# A slow client is cut off at its deadline; this much later it must be gone.
SLACK_S = 1.5

SMALL_LIMITS = {
    "VODFORGE_MAX_FILE_BYTES": str(MAX_FILE_BYTES),
    "VODFORGE_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
    "VODFORGE_BODY_IDLE_TIMEOUT_S": str(BODY_IDLE_TIMEOUT_S),
    "VODFORGE_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
    "VODFORGE_BODY_MIN_RATE": str(BODY_MIN_RATE),
    "VODFORGE_MAX_JSON_BYTES": str(MAX_JSON_BYTES),
}

TUS = "/v1/uploads/tus"
TUS_V1 = {"Tus-Resumable": "1.0.0"}
OCTETS = {"Content-Type": "application/offset+octet-stream"}


@dataclass
class HostileApi:
    """A live API with two tenants: alice owns things, bob tries to reach them."""

    components: Components
    host: str
    port: int
    alice: TenantKey
    bob: TenantKey
    root: Path  # the test's whole temporary directory (data dir, database, anything else)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.components.settings.data_dir

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "storage"

    @property
    def uploads_dir(self) -> Path:
        return self.components.settings.uploads_dir

    def client(self, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout)

    def connect(self, timeout: float = 10) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def video_count(self) -> int:
        return len(self.components.videos_repo.list_videos())


def json_routes(api: HostileApi) -> list[tuple[str, str]]:
    """(method, path template) of every operation whose published request body is JSON."""
    schema = httpx.get(f"{api.base_url}/openapi.json").json()
    routes = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                routes.append((method.upper(), path))
    return sorted(routes)


@contextmanager
def hostile_api(
    tmp_path: Path, sqlite_databases: SqliteDatabases, **env: str
) -> Iterator[HostileApi]:
    """The API as `vodforge api` runs it (`cli.serve.api_server`), with SMALL_LIMITS."""
    database_url = sqlite_databases.clone(tmp_path)
    settings = api_settings(database_url, tmp_path / "data", **{**SMALL_LIMITS, **env})
    with api_components(settings) as components:
        alice = make_tenant(components, "alice")
        bob = make_tenant(components, "bob")
        port = free_port()
        listening = threading.Event()
        server = api_server(components, "127.0.0.1", port, listening.set)
        thread = threading.Thread(target=server.run, name="hostile-api", daemon=True)
        thread.start()
        if not listening.wait(15):
            raise RuntimeError("the API server did not start")
        try:
            yield HostileApi(components, "127.0.0.1", port, alice, bob, tmp_path)
        finally:
            server.stop()
            thread.join(timeout=15)


# -- raw HTTP -------------------------------------------------------------------------------


def request_head(
    method: str, target: str, headers: dict[str, str] | list[tuple[str, str]] | None = None
) -> bytes:
    """A request line and headers, ending in the blank line; `target` is sent verbatim."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    items = headers.items() if isinstance(headers, dict) else headers or []
    lines += [f"{name}: {value}" for name, value in items]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes = field(repr=False)

    def json(self) -> Any:
        return json.loads(self.body)

    def error_code(self, status: int) -> str:
        """The code of the API's error shape, once the status and shape are checked."""
        assert self.status == status, (self.status, self.body[:500])
        body = self.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
        assert body["error"]["message"], body
        return str(body["error"]["code"])


def read_response(
    sock: socket.socket, timeout: float = 10, *, to_head: bool = False
) -> RawResponse:
    """One response (with a Content-Length body, none when it answers a HEAD) from `sock`;
    AssertionError if the server closes or stays silent first."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed without a response: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    status = int(status_line.split()[1])
    length = 0 if to_head or status in (204, 304) else int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed in the middle of a response body"
        rest += chunk
    return RawResponse(status, headers, rest[:length], data)


def raw_request(
    api: HostileApi,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> RawResponse:
    """One request on a fresh connection, its target sent byte for byte (no client library
    normalises `..` or percent-escapes away)."""
    headers = dict(headers or {})
    if body or method in ("POST", "PUT", "PATCH"):
        headers.setdefault("Content-Length", str(len(body)))
    with api.connect() as sock:
        sock.sendall(request_head(method, target, headers) + body)
        return read_response(sock, to_head=method == "HEAD")


def closed_within(sock: socket.socket, timeout: float) -> tuple[bool, float, bytes]:
    """Wait for the server to close `sock`: (closed, seconds waited, bytes it sent first)."""
    start = time.monotonic()
    received = b""
    deadline = start + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, time.monotonic() - start, received
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return False, time.monotonic() - start, received
        except ConnectionResetError:
            return True, time.monotonic() - start, received
        if not chunk:
            return True, time.monotonic() - start, received
        received += chunk


def trickle(sock: socket.socket, data: bytes, interval_s: float, until: float) -> int:
    """Send `data` a byte every `interval_s` until it is all sent, the server closes, or the
    monotonic time `until`; returns the bytes sent."""
    sent = 0
    for byte in data:
        if time.monotonic() >= until:
            break
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += 1
        time.sleep(interval_s)
    return sent


@contextmanager
def trickling(sock: socket.socket, data: bytes, interval_s: float, until: float) -> Iterator[None]:
    """`trickle` on a thread while the block runs."""
    thread = threading.Thread(target=trickle, args=(sock, data, interval_s, until), daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=until - time.monotonic() + 5)


def pour(sock: socket.socket, chunk: bytes, total: int, *, chunked: bool = False) -> int:
    """Send `chunk` again and again (chunk-encoded if `chunked`) until `total` bytes or until
    the server answers or closes; returns the body bytes sent."""
    sent = 0
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
    while sent < total:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            break
        try:
            sock.sendall(frame)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(chunk)
    return sent


def close_quietly(*socks: socket.socket) -> None:
    for sock in socks:
        with suppress(OSError):
            sock.close()


# -- bodies ---------------------------------------------------------------------------------

BOUNDARY = "hostile-boundary-5d1c"
FORM = f"multipart/form-data; boundary={BOUNDARY}"


def part(
    name: bytes | str,
    content: bytes,
    filename: bytes | str | None = None,
    extra_headers: bytes = b"",
    boundary: str = BOUNDARY,
) -> bytes:
    """One multipart part; names are bytes when a test needs bytes no str can carry."""
    raw_name = name.encode() if isinstance(name, str) else name
    disposition = b'form-data; name="' + raw_name + b'"'
    if filename is not None:
        raw_filename = filename.encode() if isinstance(filename, str) else filename
        disposition += b'; filename="' + raw_filename + b'"'
    head = b"--" + boundary.encode() + b"\r\nContent-Disposition: " + disposition + b"\r\n"
    return head + extra_headers + b"\r\n" + content + b"\r\n"


def form_end(boundary: str = BOUNDARY) -> bytes:
    return f"--{boundary}--\r\n".encode()


def file_form(content: bytes = b"not really a video", filename: bytes | str = "clip.mp4") -> bytes:
    return part("file", content, filename) + form_end()


def metadata(**values: str | bytes) -> str:
    """An Upload-Metadata header: `key base64(value)` pairs."""
    pairs = []
    for key, value in values.items():
        raw = value.encode() if isinstance(value, str) else value
        pairs.append(f"{key} {base64.b64encode(raw).decode()}")
    return ",".join(pairs)


# -- the file system ------------------------------------------------------------------------

# SQLite's own files change with every write; they are the database, not something a request
# left behind.
DATABASE_FILES = ("vodforge.db", "vodforge.db-wal", "vodforge.db-shm", "vodforge.db-journal")


def snapshot(root: Path) -> dict[str, int]:
    """Every file and symlink under `root` (relative path -> size), but the database's."""
    found = {}
    for path in root.rglob("*"):
        if path.name in DATABASE_FILES and path.parent == root:
            continue
        if path.is_symlink() or path.is_file():
            found[path.relative_to(root).as_posix()] = path.lstat().st_size
    return found


def new_files(before: dict[str, int], root: Path) -> set[str]:
    after = snapshot(root)
    return {name for name in after if name not in before}
