"""Fixtures for the HTTP API tests: components on the test's database (the in-process client
and the two tenants, alice and bob, are tests/conftest.py's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import api_components, api_settings
from vodforge.bootstrap import Components


@pytest.fixture
def components(database_url: str, tmp_path: Path) -> Iterator[Components]:
    with api_components(api_settings(database_url, tmp_path / "data")) as components:
        yield components
