"""A real `vodforge worker` killed with SIGKILL mid-job is recovered by another worker."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from sqlalchemy import Engine

from tests.support.cli import cli_env, cli_process, log_events, run_json, wait_for
from tests.support.procs import live_processes_mentioning, pid_alive
from vodforge.domain.states import JobState
from vodforge.jobs.repository import JobRepository

LEASE_TTL_S, HEARTBEAT_S, SCAN_S = 4.0, 1.0, 1.0


def test_sigkilled_worker_is_recovered_and_job_completes_once(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    env = cli_env(
        database_url,
        tmp_path / "data",
        VODFORGE_WORK="tests.support.work:sleepy_work",
        VODFORGE_TEST_SLEEP_S="60",
        VODFORGE_LEASE_TTL_S=str(LEASE_TTL_S),
        VODFORGE_HEARTBEAT_S=str(HEARTBEAT_S),
        VODFORGE_SCAN_INTERVAL_S=str(SCAN_S),
        VODFORGE_POLL_INTERVAL_S="0.5",
    )
    source = tmp_path / "upload.mp4"
    source.write_bytes(b"not needed by the sleepy work")
    repo = JobRepository(engine)
    with (
        cli_process(["scheduler"], env, tmp_path / "scheduler.log"),
        cli_process(["worker"], env, tmp_path / "victim.log") as victim,
    ):
        video = run_json(["submit", str(source)], env)
        job_id = video["job"]["id"]
        running = wait_for(
            lambda: (j := repo.get_job(job_id)).state is JobState.RUNNING and j, timeout=15
        )
        assert f":{victim.pid}:" in running.leased_by
        child_pid = wait_for(lambda: _sleeping_child_of(victim.pid), timeout=10)
        with cli_process(["worker"], env, tmp_path / "rescuer.log") as rescuer:
            time.sleep(0.5)
            killed_at = time.time()
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
            # The job's own child dies with its worker (parent-death signal), not later.
            wait_for(lambda: not pid_alive(child_pid), timeout=5)

            def reclaimed() -> bool:
                events = repo.job_events(job_id)
                return any(e.to_state is JobState.RUNNING and e.attempt == 2 for e in events)

            wait_for(reclaimed, timeout=LEASE_TTL_S + SCAN_S + 10)
            events = repo.job_events(job_id)
            reclaim = next(e for e in events if e.to_state is JobState.RUNNING and e.attempt == 2)
            assert reclaim.at - killed_at <= LEASE_TTL_S + SCAN_S + 2
            assert f":{rescuer.pid}:" in (reclaim.worker_id or "")
            wait_for(lambda: repo.get_job(job_id).state is JobState.SUCCEEDED, timeout=15)

    events = repo.job_events(job_id)
    assert [e.to_state for e in events].count(JobState.SUCCEEDED) == 1
    assert [(e.from_state, e.to_state) for e in events] == [
        (None, JobState.QUEUED),
        (JobState.QUEUED, JobState.RUNNING),
        (JobState.RUNNING, JobState.RETRY_WAIT),
        (JobState.RETRY_WAIT, JobState.RUNNING),
        (JobState.RUNNING, JobState.SUCCEEDED),
    ]
    stuck = [
        e for e in log_events(tmp_path / "scheduler.log") if e.get("event") == "STUCK_RECOVERED"
    ]
    assert [e["job_id"] for e in stuck] == [job_id]


def _sleeping_child_of(worker_pid: int) -> int | None:
    pids = live_processes_mentioning("time.sleep", parent=worker_pid)
    return pids[0] if pids else None
