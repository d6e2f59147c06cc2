"""Fixtures for the HTTP API tests: components on the test's database, an in-process client,
and two tenants (alice owns the videos, bob tries to reach them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.api import TenantKey, api_components, api_settings, make_tenant, test_client
from vodforge.bootstrap import Components


@pytest.fixture
def components(database_url: str, tmp_path: Path) -> Iterator[Components]:
    with api_components(api_settings(database_url, tmp_path / "data")) as components:
        yield components


@pytest.fixture
def client(components: Components) -> Iterator[TestClient]:
    with test_client(components) as client:
        yield client


@pytest.fixture
def alice(components: Components) -> TenantKey:
    return make_tenant(components, "alice")


@pytest.fixture
def bob(components: Components) -> TenantKey:
    return make_tenant(components, "bob")
