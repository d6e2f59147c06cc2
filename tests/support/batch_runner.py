"""A local AWS Batch stand-in: moto's server answers the Batch API (queues, compute
environments, job definitions, submit/describe/list/terminate), and BatchRunner plays Batch's
scheduler and container agent: it places each SUBMITTED job of its queue the way Batch would
(RUNNABLE forever when no ENABLED, VALID compute environment has the vCPUs), then runs the job
definition's command (`vodforge run-job Ref::job_id`) as a subprocess with the job
definition's environment, and reports the exit as SUCCEEDED/FAILED. terminate_job sends the
"container" SIGTERM, then SIGKILL after `kill_grace_s` (Batch waits 30 s).

moto's own Batch would run each job in Docker (there is no engine here): the stand-in stops
moto from starting its container thread and drives the job's status itself. It touches
nothing in vodforge: every vodforge write comes from the real run-job process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.s3server import AWS_TEST_ENV, aws_test_env, moto_server

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
# What real Batch says about a job no compute environment of its queue can ever place.
CANNOT_PLACE = (
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU)"
    " is higher than that can be met by the CE(s) attached to the job queue."
)


def batch_client(endpoint: str) -> Any:
    import boto3.session

    return boto3.session.Session().client("batch", endpoint_url=endpoint, region_name=REGION)


def _moto_job(batch_job_id: str) -> Any:
    """moto's in-process model of a Batch job (the server runs in this test process)."""
    from moto.batch.models import batch_backends
    from moto.core.models import DEFAULT_ACCOUNT_ID

    job = batch_backends[DEFAULT_ACCOUNT_ID][REGION].get_job_by_id(batch_job_id)
    assert job is not None, batch_job_id
    return job


@contextmanager
def batch_stand_in() -> Iterator[str]:
    """moto's server (Batch, S3, IAM, EC2 on one endpoint) with Docker-free Batch jobs;
    yields the endpoint URL. AWS credentials are dummies: nothing can reach AWS."""
    from moto.batch.models import Job

    with aws_test_env(), pytest.MonkeyPatch.context() as patch:
        # moto starts a thread per job that runs the container in Docker; the runner is the
        # container agent here, so jobs stay SUBMITTED until it moves them.
        patch.setattr(Job, "start", lambda self: None)
        with moto_server() as endpoint:
            yield endpoint


@dataclass(frozen=True)
class BatchSetup:
    """The Batch resources of one test (unique names: moto's state outlives a server)."""

    queue: str
    compute_environment: str
    job_definition: str
    queue_arn: str
    job_definition_arn: str


def create_batch_setup(
    endpoint: str,
    job_definition: dict[str, Any],
    *,
    max_vcpus: int = 16,
    suffix: str | None = None,
) -> BatchSetup:
    """A Fargate compute environment, a queue on it, and `job_definition` registered."""
    import boto3.session

    suffix = suffix or uuid.uuid4().hex[:8]
    session = boto3.session.Session()
    iam = session.client("iam", endpoint_url=endpoint, region_name=REGION)
    ec2 = session.client("ec2", endpoint_url=endpoint, region_name=REGION)
    batch = batch_client(endpoint)
    role = iam.create_role(
        RoleName=f"vodforge-batch-service-{suffix}",
        AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}',
    )["Role"]["Arn"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    groups = [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]][:1]
    environment = batch.create_compute_environment(
        computeEnvironmentName=f"vodforge-ce-{suffix}",
        type="MANAGED",
        state="ENABLED",
        serviceRole=role,
        computeResources={
            "type": "FARGATE",
            "maxvCpus": max_vcpus,
            "subnets": subnets,
            "securityGroupIds": groups,
        },
    )
    queue = batch.create_job_queue(
        jobQueueName=f"vodforge-queue-{suffix}",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[
            {"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}
        ],
    )
    definition = batch.register_job_definition(
        **{**job_definition, "jobDefinitionName": f"vodforge-run-job-{suffix}"}
    )
    return BatchSetup(
        queue=queue["jobQueueName"],
        compute_environment=environment["computeEnvironmentName"],
        job_definition=definition["jobDefinitionName"],
        queue_arn=queue["jobQueueArn"],
        job_definition_arn=definition["jobDefinitionArn"],
    )


@dataclass
class ContainerRun:
    """One Batch job the runner started: which vodforge job, which process, how it ended."""

    batch_job_id: str
    job_id: str
    process: subprocess.Popen[bytes]
    log: Path
    started_at: float
    term_sent_at: float | None = None
    returncode: int | None = None


@dataclass
class BatchRunner:
    """Polls the stand-in for its queue's jobs and runs each as `run-job` subprocess."""

    endpoint: str
    queue: str
    log_dir: Path
    # Values for the job definition's `secrets` (Secrets Manager is not part of the stand-in).
    secret_values: dict[str, str] = field(default_factory=dict)
    # Added to every container's environment, as a submit's containerOverrides would.
    extra_env: dict[str, str] = field(default_factory=dict)
    kill_grace_s: float = 2.0
    poll_s: float = 0.1
    runs: list[ContainerRun] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> BatchRunner:
        self.client = batch_client(self.endpoint)
        self._thread = threading.Thread(target=self._loop, name="batch-runner", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for run in self.snapshot():
            if run.process.poll() is None:
                os.killpg(run.process.pid, signal.SIGKILL)
                run.process.wait()

    def snapshot(self) -> list[ContainerRun]:
        with self._lock:
            return list(self.runs)

    def runs_of(self, job_id: str) -> list[ContainerRun]:
        return [run for run in self.snapshot() if run.job_id == job_id]

    def wait_exited(self, job_id: str, count: int = 1, timeout: float = 60) -> list[ContainerRun]:
        """The first `count` containers of a job, once each has exited and Batch shows it
        (a job can be SUCCEEDED in vodforge while its container is still shutting down)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs_of(job_id)
            if len(runs) >= count and all(run.returncode is not None for run in runs[:count]):
                return runs
            time.sleep(0.05)
        raise AssertionError(f"{count} container(s) of job {job_id} did not exit in {timeout} s")

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self._place_waiting_jobs()
                self._watch_containers()
            except Exception as exc:  # keep running; the test reads `errors`
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def _listed(self, status: str) -> list[dict[str, Any]]:
        jobs = self.client.list_jobs(jobQueue=self.queue, jobStatus=status)["jobSummaryList"]
        return list(jobs)

    def _place_waiting_jobs(self) -> None:
        for summary in self._listed("SUBMITTED") + self._listed("RUNNABLE"):
            job = _moto_job(summary["jobId"])
            if job.stop:  # terminated before it started
                job._mark_stopped(success=False)
                continue
            job.status = "RUNNABLE"
            description = self.client.describe_jobs(jobs=[summary["jobId"]])["jobs"][0]
            if not self._can_place(description):
                job.job_stopped_reason = CANNOT_PLACE
                continue
            job.job_stopped_reason = None
            self._start_container(job, description)

    def _can_place(self, description: dict[str, Any]) -> bool:
        """Batch's placement rule, reduced to what the doctor checks: the queue is ENABLED and
        VALID, and one of its compute environments is ENABLED and VALID with the vCPUs."""
        [queue] = self.client.describe_job_queues(jobQueues=[self.queue])["jobQueues"]
        if queue["state"] != "ENABLED" or queue["status"] != "VALID":
            return False
        arns = [o["computeEnvironment"] for o in queue["computeEnvironmentOrder"]]
        definition = self.client.describe_job_definitions(
            jobDefinitions=[description["jobDefinition"]]
        )["jobDefinitions"][0]
        needed = _vcpus(definition)
        environments = self.client.describe_compute_environments(computeEnvironments=arns)
        return any(
            env["state"] == "ENABLED"
            and env["status"] == "VALID"
            and float(env.get("computeResources", {}).get("maxvCpus", 0)) >= needed
            for env in environments["computeEnvironments"]
        )

    def _start_container(self, job: Any, description: dict[str, Any]) -> None:
        definition = self.client.describe_job_definitions(
            jobDefinitions=[description["jobDefinition"]]
        )["jobDefinitions"][0]
        container = definition["containerProperties"]
        parameters = description.get("parameters", {})
        command = [_substitute(part, parameters) for part in container["command"]]
        if command[0] == "vodforge":  # the image's entry point, from this checkout
            command = [sys.executable, "-m", "vodforge", *command[1:]]
        env = self._container_env(container, description)
        job.status = "STARTING"
        log = self.log_dir / f"container-{description['jobId']}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        job.job_started_at = datetime.now()
        job._start_attempt()
        job.status = "RUNNING"
        with self._lock:
            self.runs.append(
                ContainerRun(
                    batch_job_id=description["jobId"],
                    job_id=parameters.get("job_id", ""),
                    process=process,
                    log=log,
                    started_at=time.monotonic(),
                )
            )

    def _container_env(
        self, container: dict[str, Any], description: dict[str, Any]
    ) -> dict[str, str]:
        """What a Batch container sees: the job definition's environment and secrets, the
        variables Batch sets, credentials for the task role, and a fresh filesystem."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "PYTHONPATH": str(REPO_ROOT),
            **AWS_TEST_ENV,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_BATCH_JOB_ID": description["jobId"],
            "AWS_BATCH_JQ_NAME": self.queue,
            "AWS_BATCH_JOB_ATTEMPT": "1",
            "VODFORGE_DATA_DIR": tempfile.mkdtemp(prefix="container-", dir=self.log_dir),
        }
        env.update({e["name"]: e["value"] for e in container.get("environment", [])})
        for secret in container.get("secrets", []):
            env[secret["name"]] = self.secret_values[secret["name"]]
        env.update(self.extra_env)
        return env

    def _watch_containers(self) -> None:
        for run in self.snapshot():
            if run.returncode is not None:
                continue
            job = _moto_job(run.batch_job_id)
            code = run.process.poll()
            if code is None:
                self._deliver_terminate(run, job)
                continue
            run.returncode = code
            # Docker reports a signal death as 128 + signal, as Batch shows it.
            job.exit_code = code if code >= 0 else 128 - code
            if job.latest_attempt is not None:  # describe_jobs shows it under attempts[]
                job.latest_attempt["container"]["exitCode"] = job.exit_code
            if code != 0 and not job.job_stopped_reason:
                job.job_stopped_reason = "Essential container in task exited"
            job._mark_stopped(success=code == 0)

    def _deliver_terminate(self, run: ContainerRun, job: Any) -> None:
        if not job.stop:
            return
        now = time.monotonic()
        if run.term_sent_at is None:
            run.term_sent_at = now
            os.killpg(run.process.pid, signal.SIGTERM)
        elif now - run.term_sent_at > self.kill_grace_s:
            os.killpg(run.process.pid, signal.SIGKILL)


def _substitute(part: str, parameters: dict[str, str]) -> str:
    for name, value in parameters.items():
        part = part.replace(f"Ref::{name}", value)
    return part


def _vcpus(definition: dict[str, Any]) -> float:
    container = definition.get("containerProperties", {})
    for requirement in container.get("resourceRequirements", []):
        if requirement["type"] == "VCPU":
            return float(requirement["value"])
    return float(container.get("vcpus", 1))


@contextmanager
def batch_runner(endpoint: str, queue: str, log_dir: Path, **options: Any) -> Iterator[BatchRunner]:
    runner = BatchRunner(endpoint, queue, log_dir, **options).start()
    try:
        yield runner
    finally:
        runner.stop()
    assert runner.errors == [], runner.errors
