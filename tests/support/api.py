"""The real API for tests: components on a throwaway database, an in-process client, and a
live uvicorn server on a free loopback port (for browsers, tus clients and load)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vodforge.api.app import create_app
from vodforge.bootstrap import Components, open_components
from vodforge.settings import Settings

INTERNAL_TOKEN = "internal-test-token"


def api_settings(database_url: str, data_dir: Path, **env: str) -> Settings:
    values = {
        "VODFORGE_DATA_DIR": str(data_dir),
        "VODFORGE_DATABASE_URL": database_url,
        "VODFORGE_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "VODFORGE_HEARTBEAT_S": "0.5",
        "VODFORGE_LEASE_TTL_S": "3",
        "VODFORGE_SCAN_INTERVAL_S": "0.5",
    }
    values.update(env)
    return Settings.from_env(values)


@dataclass
class TenantKey:
    name: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@contextmanager
def api_components(settings: Settings) -> Iterator[Components]:
    components = open_components(settings, pool_size=20)
    try:
        yield components
    finally:
        components.close()


def make_tenant(components: Components, name: str) -> TenantKey:
    _, key = components.tenants.create(name)
    return TenantKey(name, key)


@contextmanager
def test_client(components: Components) -> Iterator[TestClient]:
    """In-process HTTP client; server errors come back as 500 responses, as a client sees."""
    with TestClient(create_app(components), raise_server_exceptions=False) as client:
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(app: FastAPI, port: int | None = None) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on 127.0.0.1; yields the base URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test API server did not start")
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def wait_for_status(
    client: httpx.Client | TestClient,
    video_id: str,
    headers: dict[str, str],
    statuses: set[str],
    timeout: float = 120,
) -> dict[str, object]:
    """Poll GET /v1/videos/{id} until its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, object] = client.get(f"/v1/videos/{video_id}", headers=headers).json()
        if body.get("status") in statuses:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"video {video_id} stayed {body.get('status')}: {body}")
        time.sleep(0.2)
