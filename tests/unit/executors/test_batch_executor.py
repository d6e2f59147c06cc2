"""The AWS Batch executor against an in-memory stand-in for the Batch API (no AWS here)."""

from __future__ import annotations

from typing import Any

from vodforge.executors.batch import BatchExecutor


class FakeBatch:
    """Answers submit_job and describe_jobs the way the Batch API shapes them."""

    def __init__(self) -> None:
        self.submitted: list[dict[str, Any]] = []
        self.status: dict[str, dict[str, str]] = {}

    def submit_job(self, **request: Any) -> dict[str, Any]:
        self.submitted.append(request)
        batch_id = f"batch-{len(self.submitted)}"
        self.status[batch_id] = {
            "jobId": batch_id,
            "status": "RUNNABLE",
            "statusReason": "waiting for capacity",
        }
        return {"jobId": batch_id, "jobName": request["jobName"]}

    def describe_jobs(self, jobs: list[str]) -> dict[str, Any]:
        return {"jobs": [self.status[j] for j in jobs if j in self.status]}


def test_dispatch_submits_run_job_with_the_job_id() -> None:
    client = FakeBatch()
    executor = BatchExecutor("video-queue", "vodforge-run-job", client=client)
    ref = executor.dispatch("0f7c3c2e-1111-2222-3333-444455556666")
    assert ref == "batch-1"
    assert client.submitted == [
        {
            "jobName": "vodforge-0f7c3c2e",
            "jobQueue": "video-queue",
            "jobDefinition": "vodforge-run-job",
            "parameters": {"job_id": "0f7c3c2e-1111-2222-3333-444455556666"},
        }
    ]


def test_knows_and_describes_batch_jobs() -> None:
    client = FakeBatch()
    executor = BatchExecutor("q", "d", client=client)
    ref = executor.dispatch("job")
    assert executor.knows(ref) is True
    assert executor.describe(ref) == "RUNNABLE: waiting for capacity"
    client.status[ref or ""]["status"] = "FAILED"
    assert executor.knows(ref) is False
    assert executor.knows("never-submitted") is False
    assert executor.describe("never-submitted") == "unknown to AWS Batch"
