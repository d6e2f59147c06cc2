"""SQLite's cross-process wake-up: another connection's commit that queues a job wakes the
watcher's workers within 100 ms; commits that make nothing claimable do not."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.databases import SqliteDatabases
from tests.support.factories import ensure_tenant, queue_jobs
from vodforge.db.engine import make_engine
from vodforge.db.wakeup import SqliteWatcher, Wakeup
from vodforge.jobs.repository import JobRepository


@pytest.fixture
def sqlite_file(sqlite_databases: SqliteDatabases, tmp_path: Path) -> Path:
    return Path(sqlite_databases.clone(tmp_path).removeprefix("sqlite:///"))


@pytest.fixture
def producer(sqlite_file: Path) -> Iterator[JobRepository]:
    """Another process's repository: its own engine and its own in-process Wakeup."""
    engine: Engine = make_engine(f"sqlite:///{sqlite_file}")
    yield JobRepository(engine, wakeup=Wakeup())
    engine.dispose()


@pytest.fixture
def watched(sqlite_file: Path) -> Iterator[Wakeup]:
    wakeup = Wakeup()
    watcher = SqliteWatcher(str(sqlite_file), wakeup)
    watcher.start()
    try:
        # The watcher signals once as it starts (jobs queued before it); let that pass.
        time.sleep(0.1)
        yield wakeup
    finally:
        watcher.stop()


def test_a_job_queued_by_another_connection_wakes_within_100_ms(
    producer: JobRepository, watched: Wakeup
) -> None:
    ensure_tenant(producer, "acme")
    for _ in range(5):
        seen = watched.generation()
        started = time.monotonic()
        queue_jobs(producer, "acme", 1)
        assert watched.wait(seen, timeout=1.0)
        # 25 ms polls: 100 ms leaves room for a loaded machine.
        assert time.monotonic() - started < 0.1 + 0.05


def test_commits_that_queue_nothing_do_not_wake(producer: JobRepository, watched: Wakeup) -> None:
    seen = watched.generation()
    ensure_tenant(producer, "acme")  # a commit, but no claimable job
    assert not watched.wait(seen, timeout=0.2)
    (job_id,) = queue_jobs(producer, "acme", 1)
    assert watched.wait(seen, timeout=1.0)
    job = producer.claim_job("worker:h:1:aa/0")
    assert job is not None and job.id == job_id
    seen = watched.generation()
    producer.renew_lease(job)  # a heartbeat: nothing became claimable
    assert not watched.wait(seen, timeout=0.2)


def test_watcher_stops_promptly(sqlite_file: Path) -> None:
    watcher = SqliteWatcher(str(sqlite_file), Wakeup())
    watcher.start()
    started = time.monotonic()
    watcher.stop()
    assert time.monotonic() - started < 1.0
