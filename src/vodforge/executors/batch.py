"""AWS Batch: each dispatch submits one container that runs `vodforge run-job <job id>`."""

from __future__ import annotations

from typing import Any

import boto3.session
from botocore.config import Config

from vodforge.executors.base import Executor, ExecutorStatus
from vodforge.executors.batch_definition import JOB_ID_PARAMETER

# Batch states in which the container has not finished: the job is still "known".
LIVE_BATCH_STATES = frozenset({"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"})
# DescribeJobs takes at most 100 job ids per call.
DESCRIBE_LIMIT = 100


def batch_client(region_name: str | None = None) -> Any:
    """A Batch API client. The endpoint is botocore's own choice, so AWS_ENDPOINT_URL_BATCH
    (or AWS_ENDPOINT_URL) points it at a stand-in; a few quick retries, then the caller's
    own retry (the dispatcher's backoff) takes over."""
    config = Config(
        retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20
    )
    # A session per client: boto3's default session is not safe to share across threads.
    return boto3.session.Session().client("batch", region_name=region_name, config=config)


class BatchExecutor(Executor):
    name = "batch"

    def __init__(self, job_queue: str, job_definition: str, client: Any = None) -> None:
        self.job_queue = job_queue
        self.job_definition = job_definition
        self.client = client or batch_client()

    def dispatch(self, job_id: str) -> str | None:
        # The job definition's command is ["vodforge", "run-job", "Ref::job_id"]; the same
        # job id is submitted again after a lost lease, and run-job's claim keeps it single.
        response = self.client.submit_job(
            jobName=f"vodforge-{job_id[:8]}",
            jobQueue=self.job_queue,
            jobDefinition=self.job_definition,
            parameters={JOB_ID_PARAMETER: job_id},
        )
        return str(response["jobId"])

    def _describe(self, executor_ref: str | None) -> dict[str, Any] | None:
        if not executor_ref:
            return None
        jobs = self.client.describe_jobs(jobs=[executor_ref]).get("jobs", [])
        return dict(jobs[0]) if jobs else None

    def knows(self, executor_ref: str | None) -> bool | None:
        description = self._describe(executor_ref)
        return description is not None and description.get("status") in LIVE_BATCH_STATES

    def describe(self, executor_ref: str | None) -> str | None:
        description = self._describe(executor_ref)
        if description is None:
            return "unknown to AWS Batch"
        reason = description.get("statusReason") or "no reason given"
        return f"{description.get('status')}: {reason}"

    def status(self, executor_ref: str | None) -> ExecutorStatus | None:
        return self.statuses([executor_ref]).get(executor_ref) if executor_ref else None

    def statuses(self, executor_refs: list[str]) -> dict[str, ExecutorStatus]:
        found: dict[str, ExecutorStatus] = {}
        refs = list(dict.fromkeys(executor_refs))
        for start in range(0, len(refs), DESCRIBE_LIMIT):
            chunk = refs[start : start + DESCRIBE_LIMIT]
            for description in self.client.describe_jobs(jobs=chunk).get("jobs", []):
                found[str(description["jobId"])] = _status_of(description)
        # Batch forgets finished jobs after about a week; say so rather than show nothing.
        return {
            ref: found.get(ref, ExecutorStatus("UNKNOWN", "unknown to AWS Batch")) for ref in refs
        }

    def terminate(self, executor_ref: str, reason: str) -> bool:
        # TerminateJob also cancels a job that has not started yet; Batch sends the container
        # SIGTERM, then SIGKILL 30 s later, and run-job gives the lease back on SIGTERM.
        self.client.terminate_job(jobId=executor_ref, reason=reason[:1000])
        return True


def _status_of(description: dict[str, Any]) -> ExecutorStatus:
    container = description.get("container") or {}
    attempts = description.get("attempts") or [{}]
    exit_code = container.get("exitCode", (attempts[-1].get("container") or {}).get("exitCode"))
    return ExecutorStatus(
        status=str(description.get("status")),
        reason=description.get("statusReason"),
        created_at=_seconds(description.get("createdAt")),
        started_at=_seconds(description.get("startedAt")),
        stopped_at=_seconds(description.get("stoppedAt")),
        exit_code=exit_code,
    )


def _seconds(epoch_ms: Any) -> float | None:
    """Batch reports times as epoch milliseconds; vodforge keeps epoch seconds."""
    return epoch_ms / 1000.0 if isinstance(epoch_ms, int | float) else None
