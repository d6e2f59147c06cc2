"""Real transcodes through the AWS Batch stand-in: `submit` hands the job to Batch, the
runner starts `vodforge run-job <id>` from the job definition, the video ends READY."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.acceptance.batch.conftest import TIMINGS, BatchDeployment
from tests.support.cli import log_events, run_cli, wait_for
from tests.support.s3server import s3_client
from vodforge.domain.states import JobState

pytestmark = pytest.mark.slow


def test_submit_runs_in_a_batch_container_and_records_its_ids(
    deployment: BatchDeployment, batch_clip: Path
) -> None:
    with deployment.runner() as runner:
        submitted = deployment.submit(batch_clip)
        job_id = submitted["job"]["id"]
        job = deployment.wait_for_state(job_id, JobState.SUCCEEDED, JobState.FAILED)
        assert job.state is JobState.SUCCEEDED, job
        [run] = runner.wait_exited(job_id)
    [batch_job] = deployment.batch_jobs_of(job_id)
    # The submit: the queue and job definition from the settings, the job id as parameter.
    assert batch_job["parameters"]["job_id"] == job_id
    assert batch_job["jobQueue"] == deployment.setup.queue_arn
    assert batch_job["jobDefinition"] == deployment.setup.job_definition_arn
    assert batch_job["jobName"] == f"vodforge-{job_id[:8]}"
    assert batch_job["status"] == "SUCCEEDED"
    assert run.returncode == 0 and run.batch_job_id == batch_job["jobId"]
    # The recorded reference is that Batch job, and status --events shows Batch's view.
    assert job.executor_ref == batch_job["jobId"] and job.attempt_count == 1
    status = deployment.status(submitted["id"])
    assert status["status"] == "READY"
    [shown] = status["jobs"]
    assert shown["executor"] == "batch" and shown["executor_ref"] == batch_job["jobId"]
    assert shown["executor_status"]["status"] == "SUCCEEDED"
    assert shown["executor_status"]["exit_code"] == 0
    assert [(e["from"], e["to"]) for e in status["events"]] == [
        (None, "QUEUED"),
        ("QUEUED", "RUNNING"),
        ("RUNNING", "SUCCEEDED"),
    ]
    keys = [
        o["Key"]
        for o in s3_client(deployment.endpoint)
        .list_objects_v2(Bucket=deployment.bucket)
        .get("Contents", [])
    ]
    assert f"vod/videos/{submitted['id']}/attempts/{job_id}-1/master.m3u8" in keys


def transcoding(runner_log: Path) -> bool:
    """The container's pipeline has reached ffmpeg (its progress log names the stage)."""
    return runner_log.exists() and '"stage": "transcode"' in runner_log.read_text()


def test_killed_container_is_resubmitted_and_the_job_finishes_once(
    deployment: BatchDeployment, long_clip: Path
) -> None:
    with deployment.runner() as runner:
        # Submit first: its dispatch is recorded before the scheduler could dispatch too.
        submitted = deployment.submit(long_clip)
        job_id = submitted["job"]["id"]
        with deployment.scheduler():
            first = wait_for(lambda: (runs := runner.runs_of(job_id)) and runs[0], 60)
            wait_for(lambda: transcoding(first.log), 60)
            os.kill(first.process.pid, signal.SIGKILL)  # the container dies mid-transcode
            job = deployment.wait_for_state(
                job_id, JobState.SUCCEEDED, JobState.FAILED, JobState.DEAD, timeout=180
            )
            runs = runner.wait_exited(job_id, count=2)
    assert job.state is JobState.SUCCEEDED
    assert job.attempt_count == 2
    assert [run.returncode for run in runs] == [-signal.SIGKILL, 0]
    # The scheduler re-submitted the same job id: a second Batch job, which finished it.
    first_batch, second_batch = deployment.batch_jobs_of(job_id)
    assert first_batch["status"] == "FAILED" and second_batch["status"] == "SUCCEEDED"
    assert second_batch["parameters"] == {"job_id": job_id}
    assert job.executor_ref == second_batch["jobId"] == runs[1].batch_job_id
    status = deployment.status(submitted["id"])
    assert status["status"] == "READY"
    transitions = [(e["from"], e["to"], e["attempt"]) for e in status["events"]]
    assert transitions == [
        (None, "QUEUED", 0),
        ("QUEUED", "RUNNING", 1),
        ("RUNNING", "RETRY_WAIT", 1),
        ("RETRY_WAIT", "RUNNING", 2),
        ("RUNNING", "SUCCEEDED", 2),
    ]
    assert status["events"][2]["reason"] == "lease expired"
    recovered = [e for e in deployment.scheduler_events() if e["event"] == "STUCK_RECOVERED"]
    assert [(e["job_id"], e["attempt"]) for e in recovered] == [(job_id, 1)]
    completed = [
        e
        for run in runs
        for e in log_events(run.log)
        if e["event"] == "JOB_COMPLETED" and e.get("state") == "SUCCEEDED"
    ]
    assert [(e["job_id"], e["attempt"]) for e in completed] == [(job_id, 2)]


def test_cancel_reaches_a_transcoding_container_through_its_heartbeat(
    deployment: BatchDeployment, long_clip: Path
) -> None:
    with deployment.runner() as runner:
        submitted = deployment.submit(long_clip)
        job_id = submitted["job"]["id"]
        with deployment.scheduler():
            run = wait_for(lambda: (runs := runner.runs_of(job_id)) and runs[0], 60)
            wait_for(lambda: transcoding(run.log), 60)
            # In-process (what `vodforge cancel` calls), so it lands while ffmpeg runs.
            assert deployment.repo.cancel_video(submitted["id"], actor="test") is JobState.RUNNING
            job = deployment.wait_for_state(job_id, JobState.CANCELLED, timeout=60)
            [run] = runner.wait_exited(job_id)
            # Long enough for the grace period: a stopped job is never terminated.
            time.sleep(2 * float(TIMINGS["VODFORGE_LEASE_TTL_S"]) + 1)
    assert run.returncode == 0 and job.attempt_count == 1
    [batch_job] = deployment.batch_jobs_of(job_id)
    assert batch_job["status"] == "SUCCEEDED"
    events = deployment.scheduler_events()
    assert [e for e in events if e["event"] == "EXECUTOR_TERMINATE"] == []
    assert deployment.status(submitted["id"])["status"] == "CANCELLED"


def test_cancel_a_container_ignores_is_terminated_after_the_grace_period(
    deployment: BatchDeployment, batch_clip: Path
) -> None:
    stubborn = {"VODFORGE_WORK": "tests.support.batch_work:stubborn_work"}
    with deployment.runner(extra_env=stubborn, kill_grace_s=1.0) as runner:
        submitted = deployment.submit(batch_clip)
        job_id = submitted["job"]["id"]
        with deployment.scheduler():
            deployment.wait_for_state(job_id, JobState.RUNNING, timeout=60)
            cancel_at = time.monotonic()
            cancelled = run_cli(["cancel", submitted["id"], "--json"], deployment.env)
            assert cancelled.returncode == 0, cancelled.stderr
            job = deployment.wait_for_state(job_id, JobState.CANCELLED, timeout=60)
            ended_after = time.monotonic() - cancel_at
            [run] = runner.wait_exited(job_id)
    grace = 2 * float(TIMINGS["VODFORGE_LEASE_TTL_S"])
    # The worker never stopped: the job ended only after the grace, the terminate, the kill
    # and the lease expiry.
    assert ended_after > grace
    terminated = [e for e in deployment.scheduler_events() if e["event"] == "EXECUTOR_TERMINATE"]
    assert [(e["job_id"], e["executor_ref"]) for e in terminated] == [(job_id, run.batch_job_id)]
    assert "was cancelled" in terminated[0]["reason"]
    [batch_job] = deployment.batch_jobs_of(job_id)
    assert batch_job["status"] == "FAILED" and "was cancelled" in batch_job["statusReason"]
    # SIGTERM was ignored too, so the runner killed it, as Batch does after its stop timeout.
    assert run.returncode == -signal.SIGKILL
    assert job.attempt_count == 1 and job.last_error_code == "WORKER_LOST"
    assert deployment.status(submitted["id"])["status"] == "CANCELLED"
