"""`vodforge doctor` against the AWS Batch stand-in: a healthy deployment passes, and each
classic reason for a job that never leaves RUNNABLE fails the right check with its fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.batch.conftest import BatchDeployment
from tests.support.batch_runner import CANNOT_PLACE, create_batch_setup
from tests.support.cli import run_cli, wait_for

pytestmark = pytest.mark.slow

BATCH_CHECKS = [
    "batch.api",
    "batch.job_definition",
    "batch.job_queue",
    "batch.compute_environments",
    "batch.runnable_jobs",
]


def doctor(deployment: BatchDeployment, *args: str, **env: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(["doctor", "--json", *args], {**deployment.env, **env})
    report: dict[str, Any] = json.loads(result.stdout)
    assert set(report) == {"ok", "checks"}
    assert report["ok"] is (result.returncode == 0), result.stderr
    for check in report["checks"]:
        assert set(check) == {"name", "ok", "detail", "fix"}
        assert check["ok"] or check["fix"], check  # every failure says what to fix
    return result.returncode, report


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


def failed(report: dict[str, Any]) -> list[str]:
    return [check["name"] for check in report["checks"] if not check["ok"]]


def test_healthy_batch_deployment_passes(deployment: BatchDeployment) -> None:
    code, report = doctor(deployment)
    assert code == 0, report
    names = [check["name"] for check in report["checks"]]
    assert names[:4] == ["database", "clock", "ffmpeg", "storage"]
    assert names[-6:] == ["executor", *BATCH_CHECKS]
    checks = by_name(report)
    assert deployment.endpoint in checks["batch.api"]["detail"]
    assert "ACTIVE, 2 vCPU, FARGATE" in checks["batch.job_definition"]["detail"]
    assert deployment.setup.compute_environment in checks["batch.compute_environments"]["detail"]
    assert "schema at" in checks["database"]["detail"]
    assert f"s3://{deployment.bucket}/vod" in checks["storage"]["detail"]


def test_disabled_queue(deployment: BatchDeployment) -> None:
    deployment.batch.update_job_queue(jobQueue=deployment.setup.queue, state="DISABLED")
    code, report = doctor(deployment)
    assert code == 1 and failed(report) == ["batch.job_queue"]
    check = by_name(report)["batch.job_queue"]
    assert "state DISABLED" in check["detail"]
    assert f"update-job-queue --job-queue {deployment.setup.queue} --state ENABLED" in check["fix"]


def test_compute_environment_at_zero_vcpus_and_the_job_it_strands(
    deployment: BatchDeployment, batch_clip: Path
) -> None:
    capped = create_batch_setup(deployment.endpoint, deployment.job_definition, max_vcpus=0)
    env = {
        "VODFORGE_BATCH_JOB_QUEUE": capped.queue,
        "VODFORGE_BATCH_JOB_DEFINITION": capped.job_definition,
    }
    with deployment.runner(queue=capped.queue) as runner:
        submitted = deployment.submit(batch_clip, **env)
        job_id = submitted["job"]["id"]

        def stranded() -> bool:
            summaries = deployment.batch.list_jobs(jobQueue=capped.queue, jobStatus="RUNNABLE")
            return any(s.get("statusReason") == CANNOT_PLACE for s in summaries["jobSummaryList"])

        wait_for(stranded, 30)
        code, report = doctor(deployment, "--runnable-after", "0.5", **env)
        assert runner.runs_of(job_id) == []
    assert code == 1
    assert failed(report) == ["batch.compute_environments", "batch.runnable_jobs"]
    checks = by_name(report)
    environments = checks["batch.compute_environments"]
    assert "maxvCpus 0 is below the job's 2 vCPU" in environments["detail"]
    assert "RUNNABLE forever" in environments["detail"]
    assert f"--compute-environment {capped.compute_environment}" in environments["fix"]
    assert "maxvCpus=2" in environments["fix"]
    runnable = checks["batch.runnable_jobs"]
    assert f"vodforge-{job_id[:8]}" in runnable["detail"]
    assert CANNOT_PLACE in runnable["detail"]


def test_deregistered_job_definition(deployment: BatchDeployment) -> None:
    deployment.batch.deregister_job_definition(jobDefinition=deployment.setup.job_definition_arn)
    code, report = doctor(deployment)
    assert code == 1 and failed(report) == ["batch.job_definition"]
    check = by_name(report)["batch.job_definition"]
    assert "INACTIVE" in check["detail"]
    assert "register-job-definition" in check["fix"]


def test_queue_name_typo(deployment: BatchDeployment) -> None:
    typo = deployment.setup.queue[:-1]
    code, report = doctor(deployment, VODFORGE_BATCH_JOB_QUEUE=typo)
    assert code == 1 and failed(report) == ["batch.job_queue"]
    check = by_name(report)["batch.job_queue"]
    assert f"no job queue {typo!r}" in check["detail"]
    assert f"did you mean {deployment.setup.queue!r}" in check["detail"]
    assert "VODFORGE_BATCH_JOB_QUEUE" in check["fix"]


def test_unreachable_batch_api(deployment: BatchDeployment) -> None:
    code, report = doctor(deployment, AWS_ENDPOINT_URL_BATCH="http://127.0.0.1:9")
    assert code == 1 and failed(report) == ["batch.api"]
    assert "AWS_ENDPOINT_URL_BATCH" in by_name(report)["batch.api"]["fix"]
