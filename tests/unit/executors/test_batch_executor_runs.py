"""BatchExecutor's view of its runs (DescribeJobs) and terminate, on a recording fake client."""

from __future__ import annotations

from typing import Any

from vodforge.executors.batch import BatchExecutor
from vodforge.executors.memory import InMemoryExecutor


class DescribingBatch:
    def __init__(self, jobs: dict[str, dict[str, Any]]) -> None:
        self.jobs = jobs
        self.describe_calls: list[list[str]] = []
        self.terminated: list[dict[str, str]] = []

    def describe_jobs(self, jobs: list[str]) -> dict[str, Any]:
        assert len(jobs) <= 100  # the API's limit
        self.describe_calls.append(jobs)
        return {"jobs": [self.jobs[j] for j in jobs if j in self.jobs]}

    def terminate_job(self, **request: str) -> dict[str, Any]:
        self.terminated.append(request)
        return {}


def test_status_reads_batch_times_reason_and_exit_code() -> None:
    client = DescribingBatch(
        {
            "b-1": {
                "jobId": "b-1",
                "status": "FAILED",
                "statusReason": "Essential container in task exited",
                "createdAt": 1_700_000_000_000,
                "startedAt": 1_700_000_001_500,
                "stoppedAt": 1_700_000_030_000,
                "attempts": [{"container": {"exitCode": 137}}],
            },
            "b-2": {"jobId": "b-2", "status": "RUNNABLE", "container": {}},
        }
    )
    executor = BatchExecutor("q", "d", client=client)
    status = executor.status("b-1")
    assert status is not None and status.to_json() == {
        "status": "FAILED",
        "reason": "Essential container in task exited",
        "created_at": 1_700_000_000.0,
        "started_at": 1_700_000_001.5,
        "stopped_at": 1_700_000_030.0,
        "exit_code": 137,
    }
    runnable = executor.status("b-2")
    assert runnable is not None and runnable.status == "RUNNABLE" and runnable.exit_code is None
    gone = executor.status("b-forgotten")
    assert gone is not None and (gone.status, gone.reason) == ("UNKNOWN", "unknown to AWS Batch")
    assert executor.status(None) is None


def test_statuses_ask_a_hundred_at_a_time() -> None:
    refs = [f"b-{n}" for n in range(150)]
    client = DescribingBatch({ref: {"jobId": ref, "status": "SUCCEEDED"} for ref in refs})
    found = BatchExecutor("q", "d", client=client).statuses([*refs, refs[0]])
    assert [len(call) for call in client.describe_calls] == [100, 50]
    assert len(found) == 150 and {s.status for s in found.values()} == {"SUCCEEDED"}


def test_terminate_passes_the_reason() -> None:
    client = DescribingBatch({})
    assert BatchExecutor("q", "d", client=client).terminate("b-9", "cancelled " * 200)
    [request] = client.terminated
    assert request["jobId"] == "b-9" and len(request["reason"]) == 1000


def test_memory_executor_records_terminations() -> None:
    executor = InMemoryExecutor()
    ref = executor.dispatch("job")
    assert ref is not None
    assert executor.status(ref) is not None and executor.status(ref).status == "LIVE"  # type: ignore[union-attr]
    assert executor.terminate(ref, "why")
    assert executor.terminated == [(ref, "why")]
