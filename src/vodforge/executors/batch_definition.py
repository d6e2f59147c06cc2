"""The AWS Batch job definition vodforge's containers need, as the document
`aws batch register-job-definition --cli-input-json` takes (SPEC §4).

The container's whole contract is `vodforge run-job <job id>`: Batch substitutes the job id
that BatchExecutor submits as parameter `job_id`. Retries belong to vodforge (leases and
backoff), so Batch's retryStrategy is one attempt. Secret values are never printed: the
database URL and internal token come from Secrets Manager (placeholder ARNs), the rest of the
environment is plain text the operator checks before registering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The parameter the command substitutes; BatchExecutor submits each job id under this name.
JOB_ID_PARAMETER = "job_id"
PLACEHOLDER_IMAGE = "ACCOUNT_ID.dkr.ecr.REGION.amazonaws.com/vodforge:latest"
PLACEHOLDER_JOB_ROLE = "arn:aws:iam::ACCOUNT_ID:role/vodforge-batch-job"
PLACEHOLDER_EXECUTION_ROLE = "arn:aws:iam::ACCOUNT_ID:role/vodforge-batch-execution"
PLACEHOLDER_SECRET = "arn:aws:secretsmanager:REGION:ACCOUNT_ID:secret:vodforge/{name}"
PLATFORMS = ("EC2", "FARGATE")


@dataclass(frozen=True)
class JobDefinitionSpec:
    name: str = "vodforge-run-job"
    image: str = PLACEHOLDER_IMAGE
    vcpus: float = 2.0
    memory_mib: int = 4096
    # Batch stops an attempt that runs longer; the lease scanner then retries the job.
    timeout_s: int = 6 * 3600
    platform: str = "EC2"
    region: str = "REGION"
    log_group: str = "/aws/batch/vodforge"
    job_role_arn: str = PLACEHOLDER_JOB_ROLE
    execution_role_arn: str = PLACEHOLDER_EXECUTION_ROLE
    # Fargate only: the scratch disk (source, renditions) lives in ephemeral storage.
    scratch_gib: int = 100
    environment: dict[str, str] = field(default_factory=dict)
    # Variable name -> Secrets Manager or SSM Parameter Store ARN.
    secrets: dict[str, str] = field(default_factory=dict)


def default_secrets() -> dict[str, str]:
    """The variables that carry credentials, read from Secrets Manager at container start."""
    return {
        "VODFORGE_DATABASE_URL": PLACEHOLDER_SECRET.format(name="database-url"),
        "VODFORGE_INTERNAL_TOKEN": PLACEHOLDER_SECRET.format(name="internal-token"),
    }


def job_definition_document(spec: JobDefinitionSpec) -> dict[str, Any]:
    if spec.platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {PLATFORMS}, got {spec.platform!r}")
    container: dict[str, Any] = {
        "image": spec.image,
        "command": ["vodforge", "run-job", f"Ref::{JOB_ID_PARAMETER}"],
        "jobRoleArn": spec.job_role_arn,
        "executionRoleArn": spec.execution_role_arn,
        "resourceRequirements": [
            {"type": "VCPU", "value": f"{spec.vcpus:g}"},
            {"type": "MEMORY", "value": str(spec.memory_mib)},
        ],
        "environment": [
            {"name": name, "value": value} for name, value in sorted(spec.environment.items())
        ],
        "secrets": [
            {"name": name, "valueFrom": value} for name, value in sorted(spec.secrets.items())
        ],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": spec.log_group,
                "awslogs-region": spec.region,
                "awslogs-stream-prefix": "vodforge",
            },
        },
    }
    if spec.platform == "FARGATE":
        container["networkConfiguration"] = {"assignPublicIp": "DISABLED"}
        container["fargatePlatformConfiguration"] = {"platformVersion": "LATEST"}
        container["ephemeralStorage"] = {"sizeInGiB": spec.scratch_gib}
        # The image must be built for this architecture: an arm64 image never starts here.
        container["runtimePlatform"] = {
            "operatingSystemFamily": "LINUX",
            "cpuArchitecture": "X86_64",
        }
    return {
        "jobDefinitionName": spec.name,
        "type": "container",
        # A submit without parameters would run `run-job SET_BY_SUBMIT`: a clear refusal.
        "parameters": {JOB_ID_PARAMETER: "SET_BY_SUBMIT"},
        "platformCapabilities": [spec.platform],
        "containerProperties": container,
        "retryStrategy": {"attempts": 1},
        "timeout": {"attemptDurationSeconds": spec.timeout_s},
        "propagateTags": True,
        "tags": {"app": "vodforge"},
    }
