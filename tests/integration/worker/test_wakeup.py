"""Wake-ups: a job queued by another process reaches an idle worker through NOTIFY."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine

from tests.support.factories import queue_jobs
from vodforge.db.wakeup import PostgresListener, Wakeup
from vodforge.jobs.repository import JobRepository


def test_notify_from_another_repository_wakes_listener(database_url: str, engine: Engine) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite's watcher: test_sqlite_watcher.py")
    wakeup = Wakeup()
    listener = PostgresListener(database_url, wakeup)
    listener.start()
    try:
        time.sleep(0.2)
        seen = wakeup.generation()
        # A separate repository with its own Wakeup stands for another process.
        producer = JobRepository(engine, wakeup=Wakeup())
        started = time.monotonic()
        queue_jobs(producer, "acme", 1)
        assert wakeup.wait(seen, timeout=1.0)
        assert time.monotonic() - started < 1.0
    finally:
        listener.stop()


def test_in_process_signal_wakes_waiters(engine: Engine) -> None:
    repo = JobRepository(engine)
    seen = repo.wakeup.generation()
    assert not repo.wakeup.wait(seen, timeout=0.05)
    queue_jobs(repo, "acme", 1)
    assert repo.wakeup.wait(seen, timeout=0.01)
