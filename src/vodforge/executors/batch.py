"""AWS Batch: each dispatch submits one container that runs `vodforge run-job <job id>`."""

from __future__ import annotations

from typing import Any

import boto3

from vodforge.executors.base import Executor

# Batch states in which the container has not finished: the job is still "known".
LIVE_BATCH_STATES = frozenset({"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"})


class BatchExecutor(Executor):
    name = "batch"

    def __init__(self, job_queue: str, job_definition: str, client: Any = None) -> None:
        self.job_queue = job_queue
        self.job_definition = job_definition
        self.client = client or boto3.client("batch")

    def dispatch(self, job_id: str) -> str | None:
        # The job definition's command is ["vodforge", "run-job", "Ref::job_id"]; the same
        # job id is submitted again after a lost lease, and run-job's claim keeps it single.
        response = self.client.submit_job(
            jobName=f"vodforge-{job_id[:8]}",
            jobQueue=self.job_queue,
            jobDefinition=self.job_definition,
            parameters={"job_id": job_id},
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
