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
    """A read-only transaction (SQLite: a plain BEGIN that never blocks writers)."""
    with engine.connect() as conn:
        conn = conn.execution_options(vodforge_read_only=True)
        yield conn
        conn.rollback()
