"""A vodforge deployment on the AWS Batch stand-in: PostgreSQL, moto's S3 and Batch on one
endpoint, the job definition `vodforge batch job-definition` prints, a BatchRunner playing
Batch's container agent, and `vodforge scheduler` as a real process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.support.batch_runner import (
    BatchRunner,
    BatchSetup,
    batch_client,
    batch_runner,
    batch_stand_in,
    create_batch_setup,
)
from tests.support.cli import cli_env, cli_process, log_events, run_cli, wait_for
from tests.support.clips import make_clip
from tests.support.databases import (
    REDIS_URL,
    PostgresDatabases,
    fresh_database,
    require_service,
)
from tests.support.s3server import new_bucket_name, s3_client
from vodforge.db.engine import make_engine
from vodforge.domain.states import JobState
from vodforge.jobs.records import JobRecord
from vodforge.jobs.repository import JobRepository

# Short timings so lease expiry, backoff and the cancel grace play out in seconds.
TIMINGS = {
    "VODFORGE_HEARTBEAT_S": "0.5",
    "VODFORGE_LEASE_TTL_S": "2",
    "VODFORGE_SCAN_INTERVAL_S": "0.2",
    "VODFORGE_BACKOFF_BASE_S": "0.5",
    "VODFORGE_BACKOFF_CAP_S": "4",
    "VODFORGE_MAX_ATTEMPTS": "3",
}
INTERNAL_TOKEN = "batch-test-token"
BATCH_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")


@dataclass
class BatchDeployment:
    endpoint: str
    env: dict[str, str]  # for CLI processes: submit, status, cancel, scheduler, doctor
    setup: BatchSetup
    job_definition: dict[str, Any]
    container_env: dict[str, str]  # what the job definition hands to every container
    secret_values: dict[str, str]
    bucket: str
    engine: Engine
    repo: JobRepository
    tmp: Path

    @property
    def batch(self) -> Any:
        return batch_client(self.endpoint)

    def runner(
        self, queue: str | None = None, **options: Any
    ) -> AbstractContextManager[BatchRunner]:
        return batch_runner(
            self.endpoint,
            queue or self.setup.queue,
            self.tmp,
            secret_values=self.secret_values,
            **options,
        )

    def scheduler(self, log_name: str = "scheduler.log", **env: str) -> Any:
        return cli_process(["scheduler"], {**self.env, **env}, self.tmp / log_name)

    def submit(self, clip: Path, **env: str) -> dict[str, Any]:
        result = run_cli(["submit", str(clip), "--json"], {**self.env, **env})
        assert result.returncode == 0, result.stderr
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def status(self, video_id: str) -> dict[str, Any]:
        result = run_cli(["status", video_id, "--events", "--json"], self.env)
        assert result.returncode == 0, result.stderr
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def job(self, job_id: str) -> JobRecord:
        return self.repo.get_job(job_id)

    def wait_for_state(self, job_id: str, *states: JobState, timeout: float = 90) -> JobRecord:
        job: JobRecord = wait_for(
            lambda: (job := self.job(job_id)).state in states and job, timeout, interval=0.1
        )
        return job

    def batch_jobs_of(self, job_id: str) -> list[dict[str, Any]]:
        """Every Batch job submitted for this vodforge job id, oldest first."""
        ids = [
            summary["jobId"]
            for status in BATCH_STATUSES
            for summary in self.batch.list_jobs(jobQueue=self.setup.queue, jobStatus=status)[
                "jobSummaryList"
            ]
        ]
        described = self.batch.describe_jobs(jobs=ids)["jobs"] if ids else []
        mine = [j for j in described if j.get("parameters", {}).get("job_id") == job_id]
        return sorted(mine, key=lambda j: j["createdAt"])

    def scheduler_events(self, name: str = "scheduler.log") -> list[dict[str, Any]]:
        return log_events(self.tmp / name)


@pytest.fixture(scope="session")
def batch_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of 854x480 with audio: a quick real transcode (480p and 360p)."""
    return make_clip(
        tmp_path_factory.mktemp("batch-clips") / "lesson.mp4",
        width=854,
        height=480,
        fps=24,
        duration_s=2,
    )


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s of 1280x720: a transcode long enough to kill or cancel in the middle."""
    return make_clip(
        tmp_path_factory.mktemp("batch-clips-long") / "lecture.mp4",
        width=1280,
        height=720,
        fps=30,
        duration_s=20,
    )


def redis_reachable() -> bool:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@pytest.fixture
def deployment(pg_databases: PostgresDatabases | None, tmp_path: Path) -> Iterator[BatchDeployment]:
    require_service("PostgreSQL", pg_databases is not None)
    with (
        fresh_database("postgresql", pg_databases, None, tmp_path) as database_url,
        batch_stand_in() as endpoint,
    ):
        bucket = new_bucket_name()
        s3_client(endpoint).create_bucket(Bucket=bucket)
        storage_url = f"s3://{bucket}/vod"
        # The operator's shell: the settings `vodforge batch job-definition` reads.
        env = cli_env(
            database_url,
            tmp_path / "cli-data",
            VODFORGE_INTERNAL_TOKEN=INTERNAL_TOKEN,
            VODFORGE_STORAGE_URL=storage_url,
            AWS_ENDPOINT_URL_S3=endpoint,
            AWS_ENDPOINT_URL_BATCH=endpoint,
            **TIMINGS,
        )
        printed = run_cli(
            ["batch", "job-definition", "--image", "vodforge:test", "--platform", "fargate"], env
        )
        assert printed.returncode == 0, printed.stderr
        document = json.loads(printed.stdout)
        container = document["containerProperties"]
        container_env = {e["name"]: e["value"] for e in container["environment"]}
        if redis_reachable():
            container_env["VODFORGE_REDIS_URL"] = REDIS_URL
        else:
            container_env.pop("VODFORGE_REDIS_URL")
        container["environment"] = [{"name": k, "value": v} for k, v in container_env.items()]
        setup = create_batch_setup(endpoint, document)
        env.update(
            VODFORGE_EXECUTOR="batch",
            VODFORGE_BATCH_JOB_QUEUE=setup.queue,
            VODFORGE_BATCH_JOB_DEFINITION=setup.job_definition,
        )
        if "VODFORGE_REDIS_URL" in container_env:
            env["VODFORGE_REDIS_URL"] = container_env["VODFORGE_REDIS_URL"]
        engine = make_engine(database_url, pool_size=2)
        try:
            yield BatchDeployment(
                endpoint=endpoint,
                env=env,
                setup=setup,
                job_definition=document,
                container_env=container_env,
                secret_values={
                    "VODFORGE_DATABASE_URL": database_url,
                    "VODFORGE_INTERNAL_TOKEN": INTERNAL_TOKEN,
                },
                bucket=bucket,
                engine=engine,
                repo=JobRepository(engine),
                tmp=tmp_path,
            )
        finally:
            engine.dispose()
