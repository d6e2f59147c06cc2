"""Browser fixtures: one headless Chromium per run, a short clip to transcode, a moto S3 server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, require_browser
from tests.support.clips import make_clip
from tests.support.databases import SqliteDatabases
from tests.support.s3server import aws_test_env, moto_server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 s of 854x480 with audio: a two-rung ladder (480p, 360p) of two 4-second-or-less
    segments each, so a player has to move from one segment to the next."""
    return make_clip(
        tmp_path_factory.mktemp("clips") / "clip.mp4", width=854, height=480, fps=24, duration_s=5
    )


@pytest.fixture
def sqlite_url(sqlite_databases: SqliteDatabases, tmp_path: Path) -> str:
    """The embedded database (the browser sees the same route on PostgreSQL; the integration
    tests cover both)."""
    return sqlite_databases.clone(tmp_path)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with aws_test_env(), moto_server() as endpoint_url:
        yield endpoint_url
