"""Throwaway databases for tests: a migrated template per run, one clone per test.

Only databases this run created are ever dropped.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from vodforge.db.engine import make_engine
from vodforge.db.migrate import upgrade

PG_ADMIN_URL = os.environ.get("VODFORGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("VODFORGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_service(name: str, reachable: bool) -> None:
    """Skip locally when a service is down, but fail in CI: there it must be running."""
    if reachable:
        return
    if running_in_ci():
        pytest.fail(f"{name} is not reachable and CI=true: tests must run against it")
    pytest.skip(f"{name} is not reachable")


def pg_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def pg_url_for(dbname: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


class PostgresDatabases:
    """Creates a migrated template database once, then clones it per test."""

    def __init__(self) -> None:
        self.prefix = f"vodforge_t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.template = f"{self.prefix}_tmpl"
        self.created: list[str] = []
        self._admin("CREATE DATABASE {}", self.template)
        self.created.append(self.template)
        engine = make_engine(pg_url_for(self.template), null_pool=True)
        upgrade(engine)
        engine.dispose()

    def _admin(self, statement: str, dbname: str) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(statement.format(psycopg.sql.Identifier(dbname).as_string(conn)))

    def clone(self) -> str:
        name = f"{self.prefix}_{uuid.uuid4().hex[:8]}"
        self._admin(f"CREATE DATABASE {{}} TEMPLATE {self.template}", name)
        self.created.append(name)
        return pg_url_for(name)

    def drop(self, url: str) -> None:
        name = url.rpartition("/")[2]
        if name in self.created:
            self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in reversed(list(self.created)):
            self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
        self.created.clear()


class SqliteDatabases:
    """Migrates one SQLite file per run and copies it per test (faster than migrating)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = root / "template.db"
        engine = make_engine(f"sqlite:///{self.template}")
        upgrade(engine)
        engine.dispose()

    def clone(self, directory: Path) -> str:
        target = directory / "vodforge.db"
        shutil.copyfile(self.template, target)
        return f"sqlite:///{target}"


@contextmanager
def fresh_database(
    kind: str, pg: PostgresDatabases | None, sqlite: SqliteDatabases, directory: Path
) -> Iterator[str]:
    if kind == "postgresql":
        assert pg is not None
        url = pg.clone()
        try:
            yield url
        finally:
            pg.drop(url)
    else:
        yield sqlite.clone(directory)
