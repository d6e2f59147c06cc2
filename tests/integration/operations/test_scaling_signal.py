"""The scaling signal read from a real database: busy workers, backlog and the idle period."""

from __future__ import annotations

from tests.conftest import FakeClock
from tests.support.factories import queue_jobs
from vodforge.domain.scaling import ScalingPolicy
from vodforge.jobs.repository import Failure, JobRepository
from vodforge.operations.scaling import scaling_signal

POLICY = ScalingPolicy(min_workers=0, max_workers=10, jobs_per_worker=2, scale_to_zero_after_s=600)


def test_backlog_running_and_busy_workers(repo: JobRepository) -> None:
    queue_jobs(repo, "acme", 7)
    # One worker with two slots busy, and a run-job container: two busy workers, three jobs.
    for holder in ("worker:h1:10:aaaa/0", "worker:h1:10:aaaa/1", "run-job:h2:11:bbbb"):
        assert repo.claim_job(holder) is not None
    decision = scaling_signal(repo, POLICY)
    assert decision.to_json() == {
        "backlog": 4,
        "running": 3,
        "busy_workers": 2,
        "desired_workers": 4,  # ceil(7 jobs / 2 per worker)
        "reason": decision.reason,
    }


def test_retry_wait_counts_as_backlog(repo: JobRepository) -> None:
    queue_jobs(repo, "acme", 1)
    job = repo.claim_job("worker:h1:10:aaaa/0")
    assert job is not None
    repo.fail_job(job, Failure("STORAGE_ERROR", "flaky", retryable=True), retry_delay_s=60)
    decision = scaling_signal(repo, POLICY)
    assert (decision.backlog, decision.running, decision.busy_workers) == (1, 0, 0)
    assert decision.desired_workers == 1


def test_scales_to_zero_only_after_the_stable_zero_period(
    repo: JobRepository, clock: FakeClock
) -> None:
    assert scaling_signal(repo, POLICY).desired_workers == 0  # nothing ever ran
    queue_jobs(repo, "acme", 1)
    job = repo.claim_job("worker:h1:10:aaaa/0")
    assert job is not None
    clock.advance(30)
    repo.complete_job(job, {"prefix": f"videos/{job.video_id}/attempts/{job.id}-1/"})
    clock.advance(599)
    held = scaling_signal(repo, POLICY)
    assert held.desired_workers == 1 and "599 s" in held.reason
    clock.advance(1)
    assert scaling_signal(repo, POLICY).desired_workers == 0
