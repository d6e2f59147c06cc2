"""Fixtures for the upload tests: the API on the test's database with an 8 MiB upload limit,
in-process and live on a loopback port, two tenants, and a small real clip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import (
    api_components,
    api_settings,
    live_server,
)
from tests.support.clips import make_clip
from vodforge.api.app import create_app
from vodforge.bootstrap import Components

LIMIT = 8 * 1024 * 1024


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of 640x360 with audio: a real video, quick to transcode."""
    return make_clip(
        tmp_path_factory.mktemp("clips") / "clip.mp4", width=640, height=360, fps=24, duration_s=2
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def components(database_url: str, data_dir: Path) -> Iterator[Components]:
    settings = api_settings(database_url, data_dir, VODFORGE_MAX_FILE_BYTES=str(LIMIT))
    with api_components(settings) as components:
        yield components


@pytest.fixture
def live(components: Components) -> Iterator[httpx.Client]:
    """An HTTP client on a real uvicorn server (real sockets, chunked bodies, disconnects)."""
    with live_server(create_app(components)) as base, httpx.Client(base_url=base, timeout=60) as c:
        yield c


@pytest.fixture
def staging_dir(components: Components) -> Path:
    return components.settings.uploads_dir / "staging"


@pytest.fixture
def storage_dir(components: Components) -> Path:
    return components.settings.data_dir / "storage"
