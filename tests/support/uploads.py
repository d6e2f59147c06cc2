"""Helpers for upload tests: multipart bodies generated on the fly (never held whole), raw
HTTP requests that stop half-way, the API as a subprocess, and where an upload's bytes went."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.support.api import free_port
from tests.support.cli import cli_process

BOUNDARY = "vodforge-test-boundary-7f3a"
MIB = 1024 * 1024


def part_head(name: str, filename: str | None = None, content_type: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return (head + "\r\n").encode()


def multipart_envelope(filename: str, title: str | None) -> tuple[bytes, bytes]:
    """The bytes before and after the file's content in a `file` (+ `title`) form."""
    before = b""
    if title is not None:
        before += part_head("title") + title.encode() + b"\r\n"
    before += part_head("file", filename, "video/mp4")
    return before, f"\r\n--{BOUNDARY}--\r\n".encode()


def multipart_body(
    file_chunks: Iterable[bytes], *, filename: str = "clip.mp4", title: str | None = None
) -> Iterator[bytes]:
    before, after = multipart_envelope(filename, title)
    yield before
    yield from file_chunks
    yield after


def multipart_length(
    file_bytes: int, *, filename: str = "clip.mp4", title: str | None = None
) -> int:
    before, after = multipart_envelope(filename, title)
    return len(before) + file_bytes + len(after)


def multipart_headers(tenant_headers: dict[str, str]) -> dict[str, str]:
    return {**tenant_headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def pattern_chunks(total: int, chunk: int = MIB) -> Iterator[bytes]:
    """`total` bytes in chunks, made as they are asked for (a 1 GiB body is never held)."""
    block = bytes(range(256)) * (chunk // 256)
    sent = 0
    while sent < total:
        size = min(chunk, total - sent)
        yield block[:size]
        sent += size


class CountingChunks:
    """An iterable of chunks that records how many bytes the client actually took."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.taken = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.taken += len(chunk)
            yield chunk


def error_code(response: httpx.Response, status: int) -> str:
    """The code of the API's one error shape, once the status and shape are checked."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"], body
    return str(body["error"]["code"])


def send_partial(url: str, method: str, headers: dict[str, str], body: bytes) -> None:
    """Send a request's headers and the first part of its body, then cut the connection, as
    a client that crashes or loses its network would."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80)) as sock:
        lines = [f"{method} {parts.path} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        time.sleep(0.3)  # let the server take the bytes before the connection drops


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def wait_until(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@dataclass
class ApiProcess:
    base_url: str
    pid: int

    def peak_rss_bytes(self) -> int:
        """The process's high-water resident set size (VmHWM), from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no VmHWM for pid {self.pid}")


@contextmanager
def api_process(env: dict[str, str], log: Path) -> Iterator[ApiProcess]:
    """`python -m vodforge api` on a free port, until the block ends."""
    port = free_port()
    with cli_process(["api", "--port", str(port)], env, log) as proc:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the API did not start: {log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield ApiProcess(base, proc.pid)
