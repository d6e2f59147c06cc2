"""The security tier (issue 10): hostile requests against the real API. Every test here is
marked `security`, so `pytest -m security` runs the tier alone.

The fixtures: the real API (in-process) on the test's database, SQLite and PostgreSQL, with
two tenants, alice (who owns things) and bob (who tries to reach them). Webhook URLs are
resolved by a stand-in DNS, so no test sends a query to a name server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import api_components, api_settings
from tests.support.dns import StubDns
from vodforge.bootstrap import Components

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.security)


@pytest.fixture
def api_env() -> dict[str, str]:
    """VODFORGE_* settings of the API under test beyond api_settings'; a module that needs
    others overrides this fixture."""
    return {}


@pytest.fixture
def dns() -> StubDns:
    """hooks.example is a public receiver (an address of example.com's); a test maps more."""
    return StubDns({"hooks.example": ["93.184.215.14"]})


@pytest.fixture
def components(
    database_url: str, tmp_path: Path, api_env: dict[str, str], dns: StubDns
) -> Iterator[Components]:
    with api_components(api_settings(database_url, tmp_path / "data", **api_env)) as components:
        components.webhooks.resolve = dns
        components.webhook_delivery.deliverer.resolve = dns
        yield components
