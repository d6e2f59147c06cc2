"""Transactions as every repository opens them: a write transaction, or a read that never writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction (SQLite: BEGIN IMMEDIATE, so the write lock is taken up front)."""
    with engine.begin() as conn:
        yield conn


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """Reads that never write.

    PostgreSQL: in autocommit, so a read is one round trip (no BEGIN, no ROLLBACK); under
    READ COMMITTED every statement takes its own snapshot anyway, in a transaction or not.
    SQLite: a plain BEGIN that never blocks writers, and gives the reads one snapshot.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")
        return
    with engine.connect() as conn:
        conn = conn.execution_options(vodforge_read_only=True)
        yield conn
        conn.rollback()
