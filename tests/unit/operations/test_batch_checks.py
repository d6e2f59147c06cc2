"""Doctor's Batch checks on the shapes the Batch API returns (the stand-in tests cover the
same checks through moto and the real CLI)."""

from __future__ import annotations

from typing import Any

from vodforge.operations.batch_checks import (
    JobShape,
    _environment_problems,
    check_job_definition,
    check_runnable_jobs,
)
from vodforge.operations.doctor import _schema_check, safe_url

RUN_JOB = ["vodforge", "run-job", "Ref::job_id"]


class Definitions:
    def __init__(self, *definitions: dict[str, Any]) -> None:
        self.definitions = list(definitions)
        self.asked: list[dict[str, Any]] = []

    def describe_job_definitions(self, **params: Any) -> dict[str, Any]:
        self.asked.append(params)
        if "jobDefinitions" in params:
            wanted = set(params["jobDefinitions"])
            return {"jobDefinitions": [d for d in self.definitions if d["arn"] in wanted]}
        name = params["jobDefinitionName"]
        return {"jobDefinitions": [d for d in self.definitions if d["jobDefinitionName"] == name]}


def definition(revision: int, status: str = "ACTIVE", **extra: Any) -> dict[str, Any]:
    return {
        "jobDefinitionName": "vod",
        "revision": revision,
        "status": status,
        "arn": f"arn:aws:batch:us-east-1:1:job-definition/vod:{revision}",
        "containerProperties": {
            "command": RUN_JOB,
            "resourceRequirements": [{"type": "VCPU", "value": "4"}],
        },
        **extra,
    }


def test_a_bare_name_means_the_latest_active_revision() -> None:
    client = Definitions(definition(1), definition(2), definition(3, status="INACTIVE"))
    check, shape = check_job_definition(client, "vod")
    assert check.ok and check.detail.startswith("vod:2: ACTIVE, 4 vCPU, EC2")
    assert shape == JobShape(vcpus=4.0, platform="EC2")


def test_a_revision_and_an_arn_name_one_revision() -> None:
    client = Definitions(definition(1), definition(2, status="INACTIVE"))
    check, _ = check_job_definition(client, "vod:2")
    assert not check.ok and "INACTIVE" in check.detail
    check, _ = check_job_definition(client, "arn:aws:batch:us-east-1:1:job-definition/vod:1")
    assert check.ok and check.detail.startswith("vod:1")
    check, _ = check_job_definition(client, "other")
    assert not check.ok and check.detail == "no job definition 'other'"


def test_a_command_that_is_not_run_job_fails_and_batch_retries_warn() -> None:
    wrong = definition(1, containerProperties={"command": ["python", "worker.py"]})
    check, _ = check_job_definition(Definitions(wrong), "vod")
    assert not check.ok and '["vodforge", "run-job", "Ref::job_id"]' in (check.fix or "")
    retried = definition(1, retryStrategy={"attempts": 3})
    check, _ = check_job_definition(Definitions(retried), "vod")
    assert check.ok and "warning: retryStrategy.attempts is 3" in check.detail
    legacy = definition(1, containerProperties={"command": RUN_JOB, "vcpus": 1})
    assert check_job_definition(Definitions(legacy), "vod")[1] == JobShape(1.0, "EC2")


def test_compute_environment_problems() -> None:
    fargate_job = JobShape(vcpus=2.0, platform="FARGATE")
    healthy = {
        "computeEnvironmentName": "ce",
        "state": "ENABLED",
        "status": "VALID",
        "computeResources": {"type": "FARGATE", "maxvCpus": 16},
    }
    assert _environment_problems(healthy, fargate_job) == []
    broken = {
        **healthy,
        "state": "DISABLED",
        "status": "INVALID",
        "statusReason": "CLIENT_ERROR - role not authorized",
        "computeResources": {"type": "EC2", "maxvCpus": 1},
    }
    problems = [problem for problem, _ in _environment_problems(broken, fargate_job)]
    assert problems == [
        "state DISABLED",
        "status INVALID (CLIENT_ERROR - role not authorized)",
        "maxvCpus 1 is below the job's 2 vCPU",
        "type EC2 cannot run a FARGATE job definition",
    ]


def test_runnable_jobs_past_the_threshold_are_listed_with_their_reason() -> None:
    now = 1_700_000_000.0

    class Listing:
        def list_jobs(self, **params: Any) -> dict[str, Any]:
            assert params == {"jobQueue": "q", "jobStatus": "RUNNABLE"}
            return {
                "jobSummaryList": [
                    {"jobId": "b-1", "jobName": "vodforge-1", "createdAt": (now - 900) * 1000,
                     "statusReason": "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - too big"},
                    {"jobId": "b-2", "jobName": "vodforge-2", "createdAt": (now - 30) * 1000},
                ]
            }  # fmt: skip

    check = check_runnable_jobs(Listing(), "q", 600, now)
    assert not check.ok
    assert check.detail == (
        "1 job(s) RUNNABLE for longer than 600 s: vodforge-1 (b-1) for 900 s: "
        "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - too big"
    )
    assert check_runnable_jobs(Listing(), "q", 1000, now).ok


def test_database_urls_are_printed_without_their_password() -> None:
    assert safe_url("postgresql://vod:s3cret@db:5432/vod") == "postgresql://vod:***@db:5432/vod"
    assert "s3cret" not in safe_url("redis://:s3cret@cache:6379/0")


def test_schema_revision_verdicts() -> None:
    def verdict(revision: str | None, embedded: bool) -> tuple[bool, str | None]:
        check = _schema_check("database", "db", revision, embedded=embedded)
        return check.ok, check.fix

    from vodforge.db.migrate import HEAD_REVISION

    assert verdict(HEAD_REVISION, False) == (True, None)
    assert verdict("0001", True)[0] is True
    assert verdict(None, True)[0] is True
    assert verdict("0001", False) == (
        False,
        "run `vodforge db upgrade` with the same VODFORGE_DATABASE_URL",
    )
    assert verdict(None, False)[0] is False
    ahead = verdict("9999", True)
    assert ahead[0] is False and "upgrade this installation" in (ahead[1] or "")
