"""Creates the SQLAlchemy engine for SQLite or PostgreSQL with the settings the engine relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool


def sqlalchemy_url(database_url: str) -> str:
    """vodforge accepts plain postgresql:// URLs; SQLAlchemy needs the psycopg 3 driver named."""
    if database_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    return database_url


def make_engine(database_url: str, *, pool_size: int = 5, null_pool: bool = False) -> Engine:
    url = sqlalchemy_url(database_url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # No pre-ping: it would add a round trip to every checkout (three per job). A connection
    # lost with a database restart fails one call, the pool is invalidated, and every caller
    # of the repository already retries (claims poll, heartbeats beat again).
    kwargs: dict[str, Any] = {"pool_recycle": 1800}
    if null_pool:
        kwargs["poolclass"] = NullPool
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str) -> Engine:
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself: pysqlite's own implicit
        # transactions would defer the write lock and turn claims into busy errors.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Writers take the database lock up front (BEGIN IMMEDIATE), so a claim's
        # UPDATE ... RETURNING can never lose a lock upgrade race halfway through.
        if conn.get_execution_options().get("vodforge_read_only"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
