"""The engine's side of AWS Batch, with a fake clock: a failing submit backs off and is never
deleted, a cancel the worker ignores gets the executor run terminated after the grace period,
and run-job records the Batch job that holds the lease."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tests.conftest import FakeClock
from tests.support.factories import queue_jobs
from vodforge.domain.retry import RetryPolicy
from vodforge.domain.states import JobState
from vodforge.executors.base import Executor, ExecutorStatus
from vodforge.executors.batch import BatchExecutor
from vodforge.executors.local import LocalExecutor
from vodforge.executors.memory import InMemoryExecutor
from vodforge.jobs.dispatch import Dispatcher
from vodforge.jobs.repository import JobRepository
from vodforge.operations.job_runs import job_runs
from vodforge.scheduler import Scheduler

EXACT = RetryPolicy(base_s=10, cap_s=600, jitter=0)


class FlakyBatch:
    """A Batch client whose first `failures` SubmitJob calls are throttled."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def submit_job(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ClientError(
                {"Error": {"Code": "TooManyRequestsException", "Message": "Too Many Requests"}},
                "SubmitJob",
            )
        return {"jobId": f"batch-{self.calls}", "jobName": request["jobName"]}


def test_failing_submit_backs_off_exponentially_and_the_job_is_kept(
    repo: JobRepository, clock: FakeClock
) -> None:
    client = FlakyBatch(failures=3)
    dispatcher = Dispatcher(repo, BatchExecutor("q", "d", client=client), EXACT)
    scheduler = Scheduler(repo, dispatcher, scanner_id="s", reconcile_every=1000)
    [job_id] = queue_jobs(repo, "acme", 1)
    start = clock.now
    tried_at: list[float] = []
    for _ in range(80):  # one tick a second for 80 s
        before = client.calls
        scheduler.tick()
        if client.calls > before:
            tried_at.append(clock.now - start)
        job = repo.get_job(job_id)
        assert job.state is JobState.QUEUED  # whatever the executor does
        clock.advance(1)
    # Failures at 0, 10 and 30 s; the waits double (10, 20, 40 s); the fourth try works.
    assert tried_at == [0, 10, 30, 70]
    job = repo.get_job(job_id)
    assert job.executor_ref == "batch-4" and job.dispatched_at == start + 70
    assert job.dispatch_failures == 0 and job.dispatch_after is None
    assert job.dispatch_error is None


def test_the_backoff_is_recorded_on_the_job(repo: JobRepository, clock: FakeClock) -> None:
    dispatcher = Dispatcher(repo, BatchExecutor("q", "d", client=FlakyBatch(failures=2)), EXACT)
    [job_id] = queue_jobs(repo, "acme", 1)
    assert dispatcher.dispatch(job_id) is False
    job = repo.get_job(job_id)
    assert job.dispatch_failures == 1 and job.dispatch_after == clock.now + 10
    assert job.dispatch_error is not None and "TooManyRequestsException" in job.dispatch_error
    assert dispatcher.jobs_due() == []
    clock.advance(10)
    assert dispatcher.jobs_due() == [job_id]
    assert dispatcher.dispatch(job_id) is False
    assert repo.get_job(job_id).dispatch_after == clock.now + 20


def test_reconcile_redispatch_has_no_backoff(repo: JobRepository) -> None:
    dispatcher = Dispatcher(repo, InMemoryExecutor(), EXACT)
    [job_id] = queue_jobs(repo, "acme", 1)
    assert dispatcher.dispatch(job_id)
    assert dispatcher.forget(job_id, "reconcile: QUEUED job unknown to the executor")
    assert dispatcher.jobs_due() == [job_id]


def running_and_cancelled(repo: JobRepository, executor: Executor) -> tuple[Scheduler, str, Any]:
    scheduler = Scheduler(repo, Dispatcher(repo, executor), scanner_id="s")
    [job_id] = queue_jobs(repo, "acme", 1)
    scheduler.tick()
    claimed = repo.claim_job_by_id(job_id, "container")
    assert claimed is not None
    assert repo.cancel_job(job_id, actor="user") is JobState.RUNNING
    return scheduler, job_id, claimed


def test_a_cancel_the_worker_ignores_gets_its_run_terminated_after_the_grace(
    repo: JobRepository, clock: FakeClock
) -> None:
    executor = InMemoryExecutor()
    scheduler, job_id, claimed = running_and_cancelled(repo, executor)
    assert scheduler.cancel_grace_s == 2 * repo.lease_ttl_s == 60

    def heartbeat_then_tick(seconds: float) -> list[str]:
        # The worker keeps heartbeating (its lease never expires) but does not stop.
        clock.advance(seconds)
        assert repo.renew_lease(claimed) is True
        return scheduler.tick().terminated

    assert heartbeat_then_tick(20) == []
    assert heartbeat_then_tick(20) == []
    assert heartbeat_then_tick(20) == []  # exactly the grace: not yet
    assert heartbeat_then_tick(1) == [job_id]
    [(ref, reason)] = executor.terminated
    assert ref == "mem-1" and f"job {job_id} was cancelled 61 s ago" in reason
    # Asked once per grace period, not at every tick.
    assert heartbeat_then_tick(20) == []
    assert heartbeat_then_tick(41) == [job_id]
    # The scheduler only asks: the job stays RUNNING until its run ends or its lease expires.
    job = repo.get_job(job_id)
    assert job.state is JobState.RUNNING and job.cancel_requested


def test_local_workers_are_never_terminated(repo: JobRepository, clock: FakeClock) -> None:
    scheduler, _, claimed = running_and_cancelled(repo, LocalExecutor())
    clock.advance(25)
    repo.renew_lease(claimed)
    clock.advance(25)
    repo.renew_lease(claimed)
    clock.advance(25)
    assert scheduler.tick().terminated == []


def test_run_job_records_the_batch_job_that_holds_the_lease(repo: JobRepository) -> None:
    dispatcher = Dispatcher(repo, InMemoryExecutor())
    first, second = queue_jobs(repo, "acme", 2)
    for job_id in (first, second):
        assert dispatcher.dispatch(job_id)
    # A container that knows its AWS_BATCH_JOB_ID records it; one that does not keeps the
    # reference of the last submit.
    assert repo.claim_job_by_id(first, "run-job", executor_ref="batch-aaa") is not None
    assert repo.claim_job_by_id(second, "run-job") is not None
    assert repo.get_job(first).executor_ref == "batch-aaa"
    assert repo.get_job(second).executor_ref == "mem-2"


class DownExecutor(InMemoryExecutor):
    def statuses(self, executor_refs: list[str]) -> dict[str, ExecutorStatus]:
        raise ConnectionError("Batch endpoint unreachable")


def test_job_runs_show_the_executor_view_and_survive_its_outage(repo: JobRepository) -> None:
    executor = InMemoryExecutor()
    [job_id] = queue_jobs(repo, "acme", 1)
    Dispatcher(repo, executor).dispatch(job_id)
    video_id = repo.get_job(job_id).video_id
    [run] = job_runs(repo, executor, video_id)
    assert run["executor"] == "memory" and run["executor_ref"] == "mem-1"
    assert run["executor_status"]["status"] == "LIVE"
    assert run["state"] == "QUEUED" and run["dispatch_failures"] == 0
    [run] = job_runs(repo, DownExecutor(), video_id)
    assert run["executor_status"]["status"] == "UNAVAILABLE"
    assert "unreachable" in run["executor_status"]["reason"]
    [run] = job_runs(repo, LocalExecutor(), video_id)
    assert run["executor_status"] is None
