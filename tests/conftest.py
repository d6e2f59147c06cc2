"""Fixtures shared by every tier: throwaway databases on SQLite and PostgreSQL, a fake clock,
and, for a folder that defines `components`, an in-process API client and two tenants."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.support.api import TenantKey, make_tenant, test_client
from tests.support.databases import (
    PostgresDatabases,
    SqliteDatabases,
    fresh_database,
    pg_reachable,
    require_service,
)
from vodforge.bootstrap import Components
from vodforge.db.engine import make_engine
from vodforge.jobs.repository import JobRepository
from vodforge.videos.repository import VideoRepository

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vodforge")
    group.addoption(
        "--soak-minutes",
        type=float,
        default=0.0,
        help="run the fault tier's soak profile for this many minutes (0: the short profile)",
    )
    group.addoption(
        "--fault-table",
        default=None,
        help="also write the fault tier's table (Markdown) to this file",
    )


class FakeClock:
    """A clock the test moves by hand; every repository timestamp comes from it."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PostgresDatabases | None]:
    if not pg_reachable():
        yield None
        return
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture
def pg_url(pg_databases: PostgresDatabases | None) -> Iterator[str]:
    """A throwaway PostgreSQL database of the test's own (a clone of the migrated template)."""
    require_service("PostgreSQL", pg_databases is not None)
    assert pg_databases is not None
    url = pg_databases.clone()
    try:
        yield url
    finally:
        pg_databases.drop(url)


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> SqliteDatabases:
    return SqliteDatabases(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest,
    pg_databases: PostgresDatabases | None,
    sqlite_databases: SqliteDatabases,
    tmp_path: Path,
) -> Iterator[str]:
    if request.param == "postgresql":
        require_service("PostgreSQL", pg_databases is not None)
    with fresh_database(request.param, pg_databases, sqlite_databases, tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=10)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def repo(engine: Engine, clock: FakeClock) -> JobRepository:
    return JobRepository(engine, lease_ttl_s=30.0, max_attempts=3, clock=clock)


@pytest.fixture
def videos(engine: Engine, clock: FakeClock) -> VideoRepository:
    """Video reads (and the writes no job transition owns) on the same database and clock."""
    return VideoRepository(engine, clock=clock)


# The API fixtures: each folder (or module) that uses them defines `components`, the API's
# settings being its own. alice owns things; bob tries to reach them.


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
