"""Clock skew (issue 10): ±5 s between a worker, the scheduler and the database neither expires a
healthy lease, nor runs a job twice, nor ends a retry backoff early.

Leases follow the database's clock (vodforge.db.clock): each process measures how far the
server's clock is from its own and adds that to every timestamp it writes or compares. The first
tests show, with fake clocks, that the old arithmetic (each process's own clock) expires a
healthy lease under 10 s of skew and the corrected clocks do not; the slow ones run real
`vodforge` processes under libfaketime against PostgreSQL.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.conftest import FakeClock
from tests.support.cli import cli_env, log_events, wait_for
from tests.support.factories import queue_jobs
from tests.support.skew import run_skewed, skewed_process
from vodforge.db.clock import DatabaseClock, database_clock, postgres_offset
from vodforge.db.engine import make_engine
from vodforge.domain.clock import Clock
from vodforge.domain.states import TERMINAL_JOB_STATES, JobState
from vodforge.jobs.repository import Failure, JobRepository

SKEW_S = 5.0
LEASE_TTL_S, HEARTBEAT_S, SCAN_S = 8.0, 1.0, 0.5
RETRYABLE = Failure("TRANSCODE_FAILED", "ffmpeg was killed by signal 9", retryable=True)


def skewed(truth: FakeClock, skew_s: float) -> Clock:
    """A machine's own clock, `skew_s` seconds off the database's, moving with it."""
    return lambda: truth() + skew_s


def corrected(truth: FakeClock, local: Clock) -> DatabaseClock:
    """What bootstrap builds on PostgreSQL: the machine's clock plus the server's offset."""
    clock = DatabaseClock(lambda own: truth() - own(), local=local)
    assert clock.refresh()
    return clock


# -- the arithmetic, with fake clocks (SQLite and PostgreSQL) ---------------------------------


def run_healthy_lease(
    engine: Engine, truth: FakeClock, worker_clock: Clock, scanner_clock: Clock
) -> list[str]:
    """A worker claims a job and renews its lease every second for 3 TTLs while a scanner
    scans every half second: the jobs the scanner expired (none, for a correct clock)."""
    worker = JobRepository(engine, lease_ttl_s=LEASE_TTL_S, clock=worker_clock)
    scanner = JobRepository(engine, lease_ttl_s=LEASE_TTL_S, clock=scanner_clock)
    queue_jobs(worker, "acme", 1)
    job = worker.claim_job("worker-behind")
    assert job is not None
    expired: list[str] = []
    for _ in range(int(3 * LEASE_TTL_S / HEARTBEAT_S)):
        truth.advance(SCAN_S)
        expired += [e.job_id for e in scanner.expire_stale_leases("scanner-ahead")]
        truth.advance(SCAN_S)
        expired += [e.job_id for e in scanner.expire_stale_leases("scanner-ahead")]
        if worker.renew_lease(job) is None:
            break  # the lease was lost
    return expired


@pytest.fixture
def truth() -> FakeClock:
    """The database's clock."""
    return FakeClock()


def test_each_process_own_clock_expires_a_healthy_lease(engine: Engine, truth: FakeClock) -> None:
    """The failure this tier guards against: worker 5 s behind, scanner 5 s ahead, an 8 s TTL."""
    expired = run_healthy_lease(engine, truth, skewed(truth, -SKEW_S), skewed(truth, +SKEW_S))
    assert len(expired) == 1


@pytest.mark.parametrize("worker_skew", [-SKEW_S, +SKEW_S])
def test_the_database_clock_keeps_a_healthy_lease(
    engine: Engine, truth: FakeClock, worker_skew: float
) -> None:
    worker_clock = corrected(truth, skewed(truth, worker_skew))
    scanner_clock = corrected(truth, skewed(truth, -worker_skew))
    assert run_healthy_lease(engine, truth, worker_clock, scanner_clock) == []


def test_the_database_clock_still_expires_a_dead_lease_on_time(
    engine: Engine, truth: FakeClock
) -> None:
    worker = JobRepository(
        engine, lease_ttl_s=LEASE_TTL_S, clock=corrected(truth, skewed(truth, -SKEW_S))
    )
    scanner = JobRepository(
        engine, lease_ttl_s=LEASE_TTL_S, clock=corrected(truth, skewed(truth, +SKEW_S))
    )
    [job_id] = queue_jobs(worker, "acme", 1)
    assert worker.claim_job("worker-dies") is not None
    truth.advance(LEASE_TTL_S - 0.1)
    assert scanner.expire_stale_leases("scanner") == []
    truth.advance(0.2)
    assert [e.job_id for e in scanner.expire_stale_leases("scanner")] == [job_id]


@pytest.mark.parametrize("correct", [False, True], ids=["own-clock", "database-clock"])
def test_a_worker_ahead_waits_out_the_backoff_by_database_time(
    engine: Engine, truth: FakeClock, correct: bool
) -> None:
    ahead = skewed(truth, +SKEW_S)
    worker_clock = corrected(truth, ahead) if correct else ahead
    first = JobRepository(engine, clock=truth)
    worker = JobRepository(engine, clock=worker_clock)
    [job_id] = queue_jobs(first, "acme", 1)
    held = first.claim_job("first")
    assert held is not None
    assert first.fail_job(held, RETRYABLE, retry_delay_s=10.0) is JobState.RETRY_WAIT
    truth.advance(6.0)
    early = worker.claim_job("worker-ahead")
    # Own clock: 6 s into a 10 s backoff the worker believes 11 s have passed, and claims.
    assert (early is not None) is (not correct)
    if correct:
        truth.advance(4.1)
        claimed = worker.claim_job("worker-ahead")
        assert claimed is not None and claimed.id == job_id


# -- the real measurement on PostgreSQL -------------------------------------------------------


def test_postgres_offset_finds_a_skew_of_this_machine(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        behind = postgres_offset(engine)(lambda: time.time() - SKEW_S)
        assert behind == pytest.approx(SKEW_S, abs=0.1)
        clock = database_clock(engine)  # the same machine: no offset worth the name
        assert isinstance(clock, DatabaseClock) and clock.measured
        assert abs(clock.offset_s) < 0.1
        assert abs(clock() - time.time()) < 0.1
    finally:
        engine.dispose()


# -- real processes under libfaketime on PostgreSQL ------------------------------------------

SLEEP_S = 17.0  # each job outlives two TTLs, renewed every second


def skew_env(pg_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return cli_env(
        pg_url,
        data_dir,
        VODFORGE_WORK="tests.support.work:sleepy_work",
        VODFORGE_TEST_SLEEP_S=str(SLEEP_S),
        VODFORGE_LEASE_TTL_S=str(LEASE_TTL_S),
        VODFORGE_HEARTBEAT_S=str(HEARTBEAT_S),
        VODFORGE_SCAN_INTERVAL_S=str(SCAN_S),
        VODFORGE_POLL_INTERVAL_S="0.2",
        **extra,
    )


def submit_skewed(offset_s: int, source: Path, env: dict[str, str]) -> str:
    result = run_skewed(offset_s, ["submit", str(source), "--json"], env)
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["job"]["id"])


def measured_skews(log: Path) -> list[float]:
    return [e["offset_s"] for e in log_events(log) if e.get("event") == "CLOCK_SKEW"]


def events_named(log: Path, *names: str) -> list[dict[str, object]]:
    return [e for e in log_events(log) if e.get("event") in names]


@pytest.mark.slow
@pytest.mark.parametrize("worker_skew", [-5, +5], ids=["worker-behind", "worker-ahead"])
def test_skewed_processes_keep_healthy_leases_and_run_each_job_once(
    pg_url: str, tmp_path: Path, worker_skew: int
) -> None:
    """A worker and a `run-job` at one skew, the scheduler at the opposite one (10 s apart,
    more than the 8 s TTL), jobs submitted from both skews: every job runs once, to the end,
    while the same scheduler expires a lease nobody renews at the TTL, by database time."""
    env = skew_env(pg_url, tmp_path / "data")
    source = tmp_path / "upload.mp4"
    source.write_bytes(b"not read by the sleepy work")
    engine = make_engine(pg_url)
    # This test's clock is the database's (same machine); its own jobs die at the first expiry.
    repo = JobRepository(engine, lease_ttl_s=LEASE_TTL_S, max_attempts=1)
    logs = {name: tmp_path / f"{name}.log" for name in ("scheduler", "worker", "run-job")}
    started = time.time()
    try:
        with (
            skewed_process(-worker_skew, ["scheduler"], env, logs["scheduler"]),
            skewed_process(worker_skew, ["worker"], env, logs["worker"]),
        ):
            by_worker = submit_skewed(worker_skew, source, env)
            wait_for(lambda: repo.get_job(by_worker).state is JobState.RUNNING, timeout=20)
            # The worker (concurrency 1) is busy: this one is run-job's alone.
            by_run_job = submit_skewed(-worker_skew, source, env)
            with skewed_process(
                worker_skew, ["run-job", by_run_job], env, logs["run-job"]
            ) as runner:
                # The control: a lease whose holder died at once. The scanner must be
                # scanning, and end it at the TTL by the database's clock, not 5 s early
                # (a scheduler ahead) or late (behind).
                [dead] = queue_jobs(repo, "control", 1)
                assert repo.claim_job("dead-worker") is not None
                claimed = time.time()
                ended = wait_for(
                    lambda: repo.get_job(dead).state is not JobState.RUNNING and time.time(),
                    timeout=LEASE_TTL_S + 10,
                )
                assert LEASE_TTL_S - 0.5 <= ended - claimed <= LEASE_TTL_S + 2.5
                assert repo.get_job(dead).state is JobState.DEAD
                assert runner.wait(timeout=SLEEP_S + 25) == 0
            wait_for(
                lambda: repo.get_job(by_worker).state in TERMINAL_JOB_STATES,
                timeout=SLEEP_S + 10,
                interval=0.2,
            )
        finished = time.time()
        for job_id in (by_worker, by_run_job):
            job = repo.get_job(job_id)
            events = repo.job_events(job_id)
            assert [(e.from_state, e.to_state) for e in events] == [
                (None, JobState.QUEUED),
                (JobState.QUEUED, JobState.RUNNING),
                (JobState.RUNNING, JobState.SUCCEEDED),
            ], [(e.from_state, e.to_state, e.reason) for e in events]
            assert job.attempt_count == 1
            # Written on the database's clock, whichever process wrote them.
            assert all(started - 1 <= e.at <= finished + 1 for e in events), events
            assert events[2].at - events[1].at >= 2 * LEASE_TTL_S
        recovered = events_named(logs["scheduler"], "STUCK_RECOVERED")
        assert [e["job_id"] for e in recovered] == [dead]
        for name in ("worker", "run-job"):
            assert events_named(logs[name], "LEASE_LOST", "JOB_FAILED") == []
        # Each process found its skew and corrected it.
        skews = {"worker": worker_skew, "run-job": worker_skew, "scheduler": -worker_skew}
        for name, skew in skews.items():
            [offset] = measured_skews(logs[name])
            assert offset == pytest.approx(-skew, abs=0.5), name
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_worker_ahead_does_not_end_a_retry_backoff_early(pg_url: str, tmp_path: Path) -> None:
    env = skew_env(pg_url, tmp_path / "data")
    log = tmp_path / "worker.log"
    engine = make_engine(pg_url)
    repo = JobRepository(engine)  # this test's clock is the database's: same machine
    try:
        [job_id] = queue_jobs(repo, "acme", 1)
        held = repo.claim_job("first-worker")
        assert held is not None
        assert repo.fail_job(held, RETRYABLE, retry_delay_s=12.0) is JobState.RETRY_WAIT
        run_after = repo.get_job(job_id).run_after
        assert run_after is not None
        with skewed_process(+5, ["worker"], env, log):
            wait_for(lambda: events_named(log, "WORKER_STARTED"), timeout=10)
            # Up while its own clock already says the backoff is over, or this proves nothing.
            assert time.time() < run_after - 5 - 0.5

            def left_retry_wait() -> float | None:
                return None if repo.get_job(job_id).state is JobState.RETRY_WAIT else time.time()

            claimed_at = wait_for(left_retry_wait, timeout=20)
            assert run_after <= claimed_at <= run_after + 3
            wait_for(lambda: repo.get_job(job_id).state is JobState.SUCCEEDED, timeout=10)
        assert repo.get_job(job_id).attempt_count == 2
        assert measured_skews(log) == [pytest.approx(-5, abs=0.5)]
    finally:
        engine.dispose()
