"""A failing submit to AWS Batch keeps the job QUEUED with the error and is retried with
growing backoff until Batch answers; the job is never deleted and runs once."""

from __future__ import annotations

import itertools
import socket
import time
from pathlib import Path

import pytest

from tests.acceptance.batch.conftest import TIMINGS, BatchDeployment
from tests.support.cli import wait_for
from vodforge.domain.states import JobState

pytestmark = pytest.mark.slow


def closed_port_url() -> str:
    """An endpoint where nothing listens: every connection is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_failing_submit_is_retried_with_backoff_and_the_job_is_kept(
    deployment: BatchDeployment, batch_clip: Path
) -> None:
    unreachable = {"AWS_ENDPOINT_URL_BATCH": closed_port_url()}
    submitted = deployment.submit(batch_clip, **unreachable)
    job_id = submitted["job"]["id"]
    job = deployment.job(job_id)
    assert submitted["status"] == "UPLOADED" and job.state is JobState.QUEUED
    assert job.dispatch_failures == 1 and job.dispatched_at is None
    assert "EndpointConnectionError" in (job.dispatch_error or "")
    assert job.dispatch_after is not None and job.dispatch_after > job.created_at

    # Batch stays unreachable for a while: the scheduler keeps trying, ever less often.
    with deployment.scheduler("scheduler-down.log", **unreachable):
        wait_for(lambda: deployment.job(job_id).dispatch_failures >= 4, 60, interval=0.1)
    failures = [
        e
        for e in deployment.scheduler_events("scheduler-down.log")
        if e["event"] == "DISPATCH_FAILED"
    ]
    assert [e["failures"] for e in failures][:3] == [2, 3, 4]
    gaps = [b["ts"] - a["ts"] for a, b in itertools.pairwise(failures)]
    base = float(TIMINGS["VODFORGE_BACKOFF_BASE_S"])
    # After failure n the next try waits base x 2^(n-1) ± 20 % (plus up to one scan).
    for n, gap in enumerate(gaps[:2], start=2):
        assert gap >= 0.8 * base * 2 ** (n - 1) - 0.05, gaps
    assert gaps[1] > gaps[0]
    job = deployment.job(job_id)
    assert job.state is JobState.QUEUED and job.attempt_count == 0
    assert deployment.batch_jobs_of(job_id) == []

    # Batch is back: the same job is submitted once and runs.
    started = time.monotonic()
    with deployment.runner() as runner, deployment.scheduler():
        job = deployment.wait_for_state(job_id, JobState.SUCCEEDED, JobState.FAILED)
        runner.wait_exited(job_id)
    assert job.state is JobState.SUCCEEDED and job.attempt_count == 1
    assert time.monotonic() - started < 60
    [batch_job] = deployment.batch_jobs_of(job_id)
    assert job.executor_ref == batch_job["jobId"]
    assert job.dispatch_failures == 0 and job.dispatch_error is None
    status = deployment.status(submitted["id"])
    assert status["status"] == "READY" and status["job"]["id"] == job_id
