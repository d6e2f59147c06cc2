"""Telemetry fixtures: one contract fixture over memory, Redis, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy import Engine, delete

from tests.conftest import FakeClock
from tests.support.databases import (
    PG_ADMIN_URL,
    REDIS_URL,
    pg_reachable,
    pg_url_for,
    require_service,
)
from vodforge.db.engine import make_engine
from vodforge.db.tables import metadata, video_progress
from vodforge.telemetry.base import Telemetry
from vodforge.telemetry.database import DatabaseTelemetry
from vodforge.telemetry.memory import MemoryTelemetry
from vodforge.telemetry.redis import RedisTelemetry, heartbeat_key, progress_key


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        reachable = bool(client.ping())
    except redis.RedisError:
        reachable = False
    finally:
        client.close()
    require_service(f"Redis at {REDIS_URL}", reachable)
    return REDIS_URL


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'telemetry.db'}")
    metadata.create_all(engine, tables=[video_progress])
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_telemetry_url() -> Iterator[str]:
    """A throwaway PostgreSQL database holding only video_progress; dropped at the end."""
    require_service("PostgreSQL", pg_reachable())
    name = f"vodforge_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    try:
        engine = make_engine(pg_url_for(name), null_pool=True)
        metadata.create_all(engine, tables=[video_progress])
        engine.dispose()
        yield pg_url_for(name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    psycopg.sql.Identifier(name)
                )
            )


@pytest.fixture
def pg_engine(pg_telemetry_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_telemetry_url)
    # The database is shared by the session: empty it so no test sees another's rows.
    with engine.begin() as conn:
        conn.execute(delete(video_progress))
    yield engine
    engine.dispose()


def _backend(kind: str, request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Telemetry]:
    if kind == "memory":
        yield MemoryTelemetry(clock=clock)
    elif kind == "redis":
        backend = RedisTelemetry.from_url(request.getfixturevalue("redis_url"), clock=clock)
        tenant, video = request.getfixturevalue("ids")
        yield backend
        backend.client.delete(progress_key(tenant, video), heartbeat_key(tenant, video))
        backend.close()
    elif kind == "sqlite":
        yield DatabaseTelemetry(request.getfixturevalue("sqlite_engine"), clock=clock)
    else:
        yield DatabaseTelemetry(request.getfixturevalue("pg_engine"), clock=clock)


@pytest.fixture(params=["memory", "redis", "sqlite", "postgresql"])
def telemetry(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Telemetry]:
    """Every backend; ids are random per test, so tests never see each other's entries."""
    yield from _backend(request.param, request, clock)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def clocked_telemetry(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Telemetry]:
    """The backends that expire entries by the injected clock (Redis uses its own)."""
    yield from _backend(request.param, request, clock)


@pytest.fixture
def ids() -> tuple[str, str]:
    """A random (tenant_id, video_id)."""
    return str(uuid.uuid4()), str(uuid.uuid4())
