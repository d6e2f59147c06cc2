"""/readyz and the API when PostgreSQL goes away under a running app: 503 naming what failed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.support.api import api_components, api_settings, make_tenant
from tests.support.api import test_client as in_process_client  # not a test: renamed
from tests.support.databases import PG_ADMIN_URL, PostgresDatabases, pg_url_for, require_service
from tests.support.errors import assert_error


def admin(statement: sql.Composable) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture
def own_database(pg_databases: PostgresDatabases | None) -> Iterator[str]:
    """A migrated database this test creates, and drops under either name it may end with."""
    require_service("PostgreSQL", pg_databases is not None)
    assert pg_databases is not None
    name = f"vodforge_ready_{uuid.uuid4().hex[:8]}"
    admin(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(pg_databases.template)
        )
    )
    try:
        yield name
    finally:
        for dbname in (name, name + "_away"):
            admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def take_away(name: str) -> None:
    """Close every session on the database and rename it: to the app, the database is gone."""
    admin(
        sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {}").format(
            sql.Literal(name)
        )
    )
    admin(
        sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
            sql.Identifier(name), sql.Identifier(name + "_away")
        )
    )


def test_readyz_is_503_naming_the_database_when_it_is_unreachable(
    own_database: str, tmp_path: Path
) -> None:
    settings = api_settings(pg_url_for(own_database), tmp_path / "data")
    with api_components(settings) as components, in_process_client(components) as client:
        key = make_tenant(components, "alice")
        assert client.get("/readyz").status_code == 200
        assert client.get("/v1/videos", headers=key.headers).status_code == 200
        take_away(own_database)
        for _ in range(2):  # the first call meets a killed connection, the next a missing db
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["ok"] is False
            checks = {check["name"]: check for check in ready.json()["checks"]}
            assert checks["database"]["ok"] is False and checks["database"]["detail"]
            assert checks["storage"]["ok"] is True
        listed = client.get("/v1/videos", headers=key.headers)
        assert_error(listed, 503, "UNAVAILABLE")
        assert listed.headers["Retry-After"] == "5"
        assert client.get("/healthz").status_code == 200
