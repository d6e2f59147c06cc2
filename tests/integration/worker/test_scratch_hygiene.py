"""Scratch space: removed on every way an attempt ends, and swept at worker start for attempts
whose worker died."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.factories import queue_jobs
from vodforge.domain.retry import RetryPolicy
from vodforge.domain.states import JobState
from vodforge.errors import InputRejected, RetryableError, StopRequested
from vodforge.jobs.repository import JobRepository
from vodforge.pipeline.context import JobContext, WorkResult
from vodforge.process import StopToken
from vodforge.worker.heartbeat import CANCELLED, SHUTDOWN
from vodforge.worker.runner import JobRunner
from vodforge.worker.runtime import Worker
from vodforge.worker.scratch import scratch_dir, sweep_stale_scratch

HOST = socket.gethostname()


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def runner_for(
    repo: JobRepository, root: Path, work: Callable[[JobContext], WorkResult]
) -> JobRunner:
    def context(job, stop, scratch):  # type: ignore[no-untyped-def]
        return JobContext(job=job, stop=stop, scratch_dir=scratch, deps=None)  # type: ignore[arg-type]

    return JobRunner(
        repo,
        work,
        context,  # type: ignore[arg-type]
        heartbeat_s=0.2,
        lease_ttl_s=2.0,
        retry_policy=RetryPolicy(base_s=10),
        scratch_root=root,
    )


def fill_scratch(ctx: JobContext) -> Path:
    (ctx.scratch_dir / "package").mkdir()
    (ctx.scratch_dir / "package" / "seg.m4s").write_bytes(b"x" * 1000)
    return ctx.scratch_dir


def succeeds(ctx: JobContext) -> WorkResult:
    fill_scratch(ctx)
    return WorkResult(package={"prefix": "p/"})


def fails_retryably(ctx: JobContext) -> WorkResult:
    fill_scratch(ctx)
    raise RetryableError("flaky storage")


def rejects_input(ctx: JobContext) -> WorkResult:
    fill_scratch(ctx)
    raise InputRejected("no video stream")


def crashes(ctx: JobContext) -> WorkResult:
    fill_scratch(ctx)
    raise ZeroDivisionError("a bug")


def cancelled(ctx: JobContext) -> WorkResult:
    fill_scratch(ctx)
    ctx.stop.request(CANCELLED)
    raise StopRequested("stopped: cancelled")


def shut_down(ctx: JobContext) -> WorkResult:
    fill_scratch(ctx)
    ctx.stop.request(SHUTDOWN)
    raise StopRequested("stopped: shutdown")


def ignores_stop(ctx: JobContext) -> WorkResult:
    fill_scratch(ctx)
    ctx.stop.request(CANCELLED)
    return WorkResult(package={"prefix": "p/"})  # a clean exit after a stop is not success


@pytest.mark.parametrize(
    ("work", "state"),
    [
        (succeeds, JobState.SUCCEEDED),
        (fails_retryably, JobState.RETRY_WAIT),
        (rejects_input, JobState.FAILED),
        (crashes, JobState.RETRY_WAIT),
        (cancelled, JobState.CANCELLED),
        (shut_down, JobState.QUEUED),
        (ignores_stop, JobState.CANCELLED),
    ],
)
def test_every_way_an_attempt_ends_removes_its_scratch(
    engine: Engine,
    tmp_path: Path,
    work: Callable[[JobContext], WorkResult],
    state: JobState,
) -> None:
    repo = JobRepository(engine, lease_ttl_s=2.0, max_attempts=3)
    queue_jobs(repo, "acme", 1)
    job = repo.claim_job("w")
    assert job is not None
    if work is cancelled or work is ignores_stop:
        repo.cancel_video(job.video_id)
    root = tmp_path / "scratch"
    outcome = runner_for(repo, root, work).run(job, StopToken())
    assert outcome.state is state
    assert not scratch_dir(root, job.id, job.attempt).exists()
    assert list(root.iterdir()) == []


def test_lost_lease_removes_scratch(engine: Engine, tmp_path: Path) -> None:
    repo = JobRepository(engine, lease_ttl_s=2.0, max_attempts=3)
    queue_jobs(repo, "acme", 1)
    job = repo.claim_job("w")
    assert job is not None

    def fenced_out(ctx: JobContext) -> WorkResult:
        fill_scratch(ctx)
        # A scanner whose clock is past the lease expires it: the job is someone else's now.
        later = JobRepository(engine, clock=lambda: time.time() + 100)
        assert later.expire_stale_leases("scanner")
        assert ctx.stop.wait(5)  # the heartbeat finds the lease gone and stops the work
        raise StopRequested("stopped: lease lost")

    root = tmp_path / "scratch"
    outcome = runner_for(repo, root, fenced_out).run(job, StopToken())
    assert outcome.lease_lost
    assert not scratch_dir(root, job.id, job.attempt).exists()


def test_worker_start_sweeps_scratch_of_attempts_no_live_worker_holds(
    engine: Engine, tmp_path: Path
) -> None:
    repo = JobRepository(engine, lease_ttl_s=30.0, max_attempts=3)
    ids = queue_jobs(repo, "acme", 6)
    holders = {
        ids[0]: f"worker:{HOST}:{os.getpid()}:aaaa1111/0",  # alive, here: keep
        ids[1]: f"worker:{HOST}:{dead_pid()}:bbbb2222/0",  # SIGKILLed, here: sweep
        ids[2]: f"worker:elsewhere:{os.getpid()}:cccc3333/1",  # another host's: keep
        ids[3]: f"run-job:{HOST}:{dead_pid()}:dddd4444",  # a dead run-job: sweep
    }
    root = tmp_path / "scratch"
    expected_kept = set()
    for job_id, holder in holders.items():
        job = repo.claim_job_by_id(job_id, holder)
        assert job is not None
        directory = scratch_dir(root, job_id, job.attempt)
        (directory / "package").mkdir(parents=True)
        if holder.split(":")[1] != HOST or holder.endswith("aaaa1111/0"):
            expected_kept.add(directory)
    # An older attempt of a running job, a job that is not running, a job that never existed.
    (scratch_dir(root, ids[0], 7) / "x").mkdir(parents=True)
    (scratch_dir(root, ids[4], 1)).mkdir()
    (scratch_dir(root, "0" * 8 + "-0000-0000-0000-" + "0" * 12, 1)).mkdir()
    (root / "not-an-attempt").mkdir()

    removed = sweep_stale_scratch(repo, root)

    assert set(root.iterdir()) == expected_kept | {root / "not-an-attempt"}
    assert len(removed) == 5


def test_worker_sweeps_at_start(engine: Engine, tmp_path: Path) -> None:
    repo = JobRepository(engine, lease_ttl_s=30.0, max_attempts=3)
    (job_id,) = queue_jobs(repo, "acme", 1)
    job = repo.claim_job_by_id(job_id, f"worker:{HOST}:{dead_pid()}:eeee5555/0")
    assert job is not None
    root = tmp_path / "scratch"
    (scratch_dir(root, job_id, 1) / "package").mkdir(parents=True)
    worker = Worker(repo, runner_for(repo, root, succeeds), poll_interval_s=0.05)
    worker.start()
    worker.request_shutdown()
    assert worker.join(timeout=10)
    assert list(root.iterdir()) == []
