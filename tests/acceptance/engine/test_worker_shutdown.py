"""SIGTERM to a real `vodforge worker` gives its running job back instead of stranding it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from sqlalchemy import Engine

from tests.support.cli import cli_env, cli_process, log_events, run_cli, run_json, wait_for
from vodforge.domain.states import JobState
from vodforge.jobs.repository import JobRepository


def test_sigterm_releases_running_job(database_url: str, engine: Engine, tmp_path: Path) -> None:
    env = cli_env(
        database_url,
        tmp_path / "data",
        VODFORGE_WORK="tests.support.work:sleepy_work",
        VODFORGE_TEST_SLEEP_S="60",
    )
    source = tmp_path / "upload.mp4"
    source.write_bytes(b"x")
    repo = JobRepository(engine)
    with cli_process(["worker", "--concurrency", "2"], env, tmp_path / "worker.log") as worker:
        job_id = run_json(["submit", str(source)], env)["job"]["id"]
        wait_for(lambda: repo.get_job(job_id).state is JobState.RUNNING, timeout=15)
        os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=25) == 0
    job = repo.get_job(job_id)
    assert job.state is JobState.QUEUED and job.attempt_count == 0 and job.lease_token is None
    events = [e["event"] for e in log_events(tmp_path / "worker.log") if "event" in e]
    assert "JOB_RELEASED" in events and events[-1] == "WORKER_STOPPED"
    backlog = run_json(["backlog"], env)
    assert backlog == {"queued": 1, "retry_wait": 0, "backlog": 1, "running": 0}
    assert run_cli(["status", job_id], env).returncode == 1  # a job id is not a video id
