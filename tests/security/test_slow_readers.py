"""Slow-reading clients (issue 10): a client that asks for a large file and then stops reading
must not hold its connection, its open file and its request task for ever. Once the server's
send buffer is full, the response may stall for at most VODFORGE_RESPONSE_IDLE_TIMEOUT_S; then
the connection is dropped. A client that reads slowly but steadily is served to the end
however long it takes, and other clients are served meanwhile.

Against the API as `vodforge api` serves it (`cli/serve.py`), on raw sockets with a small
receive buffer so the server's side fills after a few hundred KiB.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import SqliteDatabases
from tests.support.hostile import HostileApi, close_quietly, hostile_api, request_head
from tests.support.playback import play_base, ready_with_files

MIB = 1024 * 1024
IDLE_TIMEOUT_S = 2.0  # the steady reader below pauses 0.2 s at a time
SEGMENT = "360p/seg_00001.m4s"
SIZE = 24 * MIB  # far more than loopback's socket buffers and uvicorn's write buffer hold


@pytest.fixture(scope="module")
def big() -> bytes:
    return os.urandom(SIZE)


@pytest.fixture
def api(tmp_path: Path, sqlite_databases: SqliteDatabases) -> Iterator[HostileApi]:
    env = {"VODFORGE_RESPONSE_IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S)}
    with hostile_api(tmp_path, sqlite_databases, **env) as api:
        yield api


def segment_path(api: HostileApi, big: bytes) -> str:
    files = {
        "master.m3u8": b"#EXTM3U\n",
        "360p/index.m3u8": b"#EXTM3U\n",
        SEGMENT: big,
    }
    video_id = ready_with_files(api.components, api.alice.key, files)
    with api.client() as client:
        video = client.get(f"/v1/videos/{video_id}", headers=api.alice.headers).json()
    return play_base(video["playback_url"]) + SEGMENT


def ask(api: HostileApi, path: str, recv_buffer: int = 16 * 1024) -> socket.socket:
    """A GET for `path` on a socket whose receive buffer is small, and nothing read yet."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
    sock.settimeout(10)
    sock.connect((api.host, api.port))
    sock.sendall(request_head("GET", path))
    return sock


def drain(sock: socket.socket, limit_s: float = 60) -> tuple[bytes, str]:
    """Everything still to come, and how the connection ended (eof, reset or timeout)."""
    chunks = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            return b"".join(chunks), "reset"
        except TimeoutError:
            return b"".join(chunks), "timeout"
        if not chunk:
            return b"".join(chunks), "eof"
        chunks.append(chunk)
    return b"".join(chunks), "timeout"


def body_of(response: bytes) -> bytes:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return body


def test_a_client_that_stops_reading_is_dropped_at_the_idle_timeout(
    api: HostileApi, big: bytes
) -> None:
    path = segment_path(api, big)
    sock = ask(api, path)
    try:
        time.sleep(IDLE_TIMEOUT_S + 2.0)  # the server's buffers fill at once, then it waits
        received, ended = drain(sock)
    finally:
        close_quietly(sock)
    # Had the server kept waiting, draining would now receive the whole file.
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
    assert ended in ("reset", "eof"), ended
    assert len(received) < SIZE, f"{len(received)} bytes: the whole file was still sent"


def test_a_slow_but_steady_reader_gets_the_whole_file(api: HostileApi, big: bytes) -> None:
    """Reads 512 KiB every 0.2 s: the file takes ~9 s, far past the 2 s idle timeout, and no
    pause is ever as long as it."""
    path = segment_path(api, big)
    sock = ask(api, path, recv_buffer=64 * 1024)
    chunks, started = [], time.monotonic()
    try:
        total = 0
        while True:
            time.sleep(0.2)
            got = 0
            while got < 512 * 1024:
                chunk = sock.recv(512 * 1024 - got)
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
            total += got
            if got == 0 or total >= SIZE + 200:
                break
    finally:
        close_quietly(sock)
    body = body_of(b"".join(chunks))
    assert hashlib.sha256(body).digest() == hashlib.sha256(big).digest()
    assert time.monotonic() - started > 3 * IDLE_TIMEOUT_S  # the test did read slowly


def test_others_are_served_while_many_clients_stop_reading(api: HostileApi, big: bytes) -> None:
    path = segment_path(api, big)
    stalled = [ask(api, path) for _ in range(30)]
    try:
        time.sleep(0.3)
        with api.client(timeout=5) as client:
            for _ in range(5):
                listed = client.get("/v1/videos", headers=api.bob.headers)
                assert listed.status_code == 200, listed.text
        time.sleep(IDLE_TIMEOUT_S + 2.0)
        ends = [drain(sock, limit_s=10) for sock in stalled]
    finally:
        close_quietly(*stalled)
    assert all(received.startswith(b"HTTP/1.1 200") for received, _ in ends)
    assert all(len(received) < SIZE for received, _ in ends), "a whole file was still sent"
    assert {ended for _, ended in ends} <= {"reset", "eof"}, [ended for _, ended in ends]
