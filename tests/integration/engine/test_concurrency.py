"""Races on real databases: concurrent claimers, scanner against dead-letter reports, fairness."""

from __future__ import annotations

import random
import threading
from collections import Counter

from sqlalchemy import Engine

from tests.conftest import FakeClock
from tests.support.factories import ensure_tenant, queue_jobs
from vodforge.domain.states import ALLOWED_TRANSITIONS, TERMINAL_JOB_STATES, JobState
from vodforge.jobs.repository import JobRepository
from vodforge.operations.deadletter import report_dead_letter


def test_eight_claimers_claim_500_jobs_exactly_once(repo: JobRepository) -> None:
    job_ids = queue_jobs(repo, "acme", 500)
    claimed: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def claimer(n: int) -> None:
        start.wait()
        while (job := repo.claim_job(f"claimer-{n}")) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 500
    assert Counter(claimed).most_common(1)[0][1] == 1
    assert set(claimed) == set(job_ids)
    assert repo.backlog().running == 500


def test_scanner_and_dead_letter_race_never_double_terminates(
    engine: Engine, clock: FakeClock, database_url: str
) -> None:
    """Randomized rounds: workers claim/fail/complete, the scanner expires leases and the
    executor's dead-letter path reports the same jobs, all at once. No job may ever pass
    through two terminal states, and each job's event log must end at its final state."""
    repo = JobRepository(engine, lease_ttl_s=30.0, max_attempts=3, clock=clock)
    rounds = 120 if database_url.startswith("postgresql") else 60
    rng = random.Random(7)
    all_ids: list[str] = []
    for round_no in range(rounds):
        ids = queue_jobs(repo, f"tenant-{round_no % 3}", 12)
        all_ids.extend(ids)
        claimed = [job for _ in range(8) if (job := repo.claim_job("w")) is not None]
        clock.advance(rng.choice([0, 31]))
        targets = ids[:]
        rng.shuffle(targets)

        def scanner() -> None:
            for _ in range(3):
                repo.expire_stale_leases("scanner")

        def dead_letters(targets: list[str] = targets) -> None:
            for job_id in targets:
                report_dead_letter(repo, job_id)

        def workers(claimed: list = claimed) -> None:  # type: ignore[type-arg]
            for job in claimed:
                if rng.random() < 0.5:
                    repo.complete_job(job, {"prefix": f"{job.id}/"})
                else:
                    repo.release_job(job)

        threads = [threading.Thread(target=f) for f in (scanner, dead_letters, workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    for job_id in all_ids:
        events = repo.job_events(job_id)
        states = [e.to_state for e in events if e.from_state != e.to_state]
        terminal_visits = [s for s in states if s in TERMINAL_JOB_STATES]
        assert len(terminal_visits) <= 1, (job_id, states)
        for event in events:
            if event.from_state != event.to_state:
                assert (event.from_state, event.to_state) in ALLOWED_TRANSITIONS
        assert events[-1].to_state is repo.get_job(job_id).state


def test_fairness_small_tenant_is_not_starved(repo: JobRepository, clock: FakeClock) -> None:
    """Tenant A queues 50, then B queues 1: B's job is among the next claims of 2 workers."""
    big = queue_jobs(repo, "tenant-a", 50)
    clock.advance(1)
    [small] = queue_jobs(repo, "tenant-b", 1)
    first = repo.claim_job("worker-1")
    second = repo.claim_job("worker-2")
    assert first is not None and second is not None
    assert first.id in big
    assert second.id == small


def test_priority_then_age_within_a_tenant(repo: JobRepository, clock: FakeClock) -> None:
    tenant = ensure_tenant(repo, "acme")
    ids = []
    for n, priority in enumerate([0, -5, 0]):
        clock.advance(1)
        _, job_id = repo.create_video_and_job(
            tenant.id, f"v{n}", source_key="k", source_bytes=1, priority=priority
        )
        ids.append(job_id)
    order = [job.id for _ in ids if (job := repo.claim_job("w")) is not None]
    assert order == [ids[1], ids[0], ids[2]]


def test_every_transition_has_its_event(repo: JobRepository, clock: FakeClock) -> None:
    [job_id] = queue_jobs(repo, "acme", 1)
    job = repo.claim_job("w")
    assert job is not None
    clock.advance(31)
    repo.expire_stale_leases("scanner")
    job = repo.claim_job("w2")
    assert job is not None
    repo.complete_job(job, {"prefix": "p/"})
    pairs = [(e.from_state, e.to_state, e.worker_id) for e in repo.job_events(job_id)]
    assert pairs == [
        (None, JobState.QUEUED, None),
        (JobState.QUEUED, JobState.RUNNING, "w"),
        (JobState.RUNNING, JobState.RETRY_WAIT, "scanner"),
        (JobState.RETRY_WAIT, JobState.RUNNING, "w2"),
        (JobState.RUNNING, JobState.SUCCEEDED, "w2"),
    ]
